import type { Router } from 'express';
import type { AppContext } from '../../app-context.js';
import { wsrepState } from '../db/database-hosts.js';
import { redisWritable } from '../redis/redis.js';

const withTimeout = <T>(promise: Promise<T>, ms: number, what: string) =>
  Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms))]);

/**
 * /health/live answers while the process runs; /health/ready only while the database takes
 * writes (a Galera node: wsrep_ready=ON and Synced) and Redis is a writable primary (ROLE).
 */
export function mountHealthRoutes(router: Router, app: AppContext): void {
  router.get('/health/live', (_req, res) => {
    res.json({ status: 'ok' });
  });

  router.get('/health/ready', async (_req, res) => {
    const checks = await Promise.allSettled([
      withTimeout(wsrepState((sql) => app.dataSource.query(sql)).then((state) => state.detail), 2000, 'MySQL'),
      withTimeout(redisWritable(app.redis), 2000, 'Redis'),
    ]);
    const [mysql, redis] = checks.map((check) => (check.status === 'fulfilled' ? check.value : check.reason instanceof Error ? check.reason.message : 'unavailable'));
    const ready = mysql === 'ok' && redis === 'ok';
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'unavailable', mysql, redis });
  });

  router.get('/metrics', async (_req, res) => {
    res.set('Content-Type', app.metrics.registry.contentType);
    res.send(await app.metrics.registry.metrics());
  });
}
