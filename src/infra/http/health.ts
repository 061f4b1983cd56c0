import type { Router } from 'express';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import type { AppConfig } from '../../config/config.js';
import { wsrepState } from '../db/database-hosts.js';
import type { Logger } from '../logging/logger.js';
import { redisWritable } from '../redis/redis.js';
import type { Metrics } from './metrics.js';

/** What the health and metrics routes read (the process's AppContext has all of it). */
export interface HealthSources {
  config: Pick<AppConfig, 'METRICS_TOKEN'>;
  dataSource: DataSource;
  redis: Redis;
  logger: Logger;
  metrics: Metrics;
}

/** The check's answer, or a rejection after `ms`; the timer goes with the answer. */
function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/**
 * /health/live answers while the process runs; /health/ready only while the database takes
 * writes (a Galera node: wsrep_ready=ON and Synced) and Redis is a writable primary (ROLE),
 * naming the part that is not ready in the service's own words, never the driver's (those go to
 * the log); /metrics, with METRICS_TOKEN set, only to `Authorization: Bearer <METRICS_TOKEN>`.
 */
export function mountHealthRoutes(router: Router, app: HealthSources): void {
  router.get('/health/live', (_req, res) => {
    res.json({ status: 'ok' });
  });

  router.get('/health/ready', async (_req, res) => {
    const parts = ['mysql', 'redis'] as const;
    const checks = await Promise.allSettled([
      withTimeout(wsrepState((sql) => app.dataSource.query(sql)).then((state) => state.detail), 2000, 'MySQL'),
      withTimeout(redisWritable(app.redis), 2000, 'Redis'),
    ]);
    const [mysql, redis] = checks.map((check, index) => {
      if (check.status === 'fulfilled') return check.value;
      app.logger.warn({ err: check.reason, part: parts[index] }, 'readiness check failed');
      return 'unavailable';
    });
    const ready = mysql === 'ok' && redis === 'ok';
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'unavailable', mysql, redis });
  });

  const metricsToken = app.config.METRICS_TOKEN ? digest(app.config.METRICS_TOKEN) : null;
  router.get('/metrics', async (req, res) => {
    if (metricsToken) {
      const sent = /^\s*Bearer\s+(\S+)\s*$/i.exec(req.get('authorization') ?? '')?.[1];
      if (!sent || !timingSafeEqual(digest(sent), metricsToken)) {
        res.status(401).set('WWW-Authenticate', 'Bearer').json({ error: 'send "Authorization: Bearer <METRICS_TOKEN>"' });
        return;
      }
    }
    res.set('Content-Type', app.metrics.registry.contentType);
    res.send(await app.metrics.registry.metrics());
  });
}
