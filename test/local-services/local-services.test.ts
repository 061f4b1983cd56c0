import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import { type LocalServicesLogger, ensureLocalServices } from '../../src/infra/local-services/local-services.js';
import { addressOf, probeMysql, probeRedis } from '../../src/infra/local-services/probe.js';
import { unusedPort } from '../helpers/fixtures';

const projectRoot = join(__dirname, '..', '..');
const DEFAULT_DATABASE_URL = 'mysql://root@127.0.0.1:3306/coupons';
const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

function recordingLogger(): LocalServicesLogger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (msg) => lines.push(msg), warn: (msg) => lines.push(msg) };
}

describe('wire probe', () => {
  let http: HttpServer;
  let httpPort: number;

  beforeAll(async () => {
    http = createHttpServer((_req, res) => res.end('hello'));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    httpPort = (http.address() as AddressInfo).port;
  });

  afterAll(async () => {
    http.closeAllConnections();
    await new Promise<void>((resolve) => http.close(() => resolve()));
  });

  it('refuses an HTTP server as MySQL and as Redis, naming the variables and the address', async () => {
    const attempt = ensureLocalServices({
      databaseUrl: `mysql://root@127.0.0.1:${httpPort}/coupons`,
      redisUrl: `redis://127.0.0.1:${httpPort}`,
      startDatabaseIfMissing: true,
      startRedisIfMissing: true,
      projectRoot,
      logger: recordingLogger(),
    });
    const error = await attempt.then(() => null, (err: Error) => err);
    expect(error?.message).toMatch(new RegExp(`not a MySQL server holds 127\\.0\\.0\\.1:${httpPort} \\(DATABASE_URL=`));
    expect(error?.message).toMatch(new RegExp(`not a Redis server holds 127\\.0\\.0\\.1:${httpPort} \\(REDIS_URL=`));
    expect(error?.message).toContain('HTTP/1.1 400');
  });

  it('says nothing answers at a refused port when it may not start a server', async () => {
    const port = await unusedPort();
    const databaseUrl = `mysql://root@127.0.0.1:${port}/coupons`;
    const redisUrl = `redis://127.0.0.1:${port}`;
    const attempt = ensureLocalServices({
      databaseUrl,
      redisUrl,
      startDatabaseIfMissing: false,
      startRedisIfMissing: false,
      projectRoot,
      logger: recordingLogger(),
    });
    const error = await attempt.then(() => null, (err: Error) => err);
    expect(error?.message).toContain(`Nothing answers at DATABASE_URL=${databaseUrl}`);
    expect(error?.message).toContain('unset DATABASE_URL to let the service start a local MariaDB');
    expect(error?.message).toContain(`Nothing answers at REDIS_URL=${redisUrl}`);
    expect(error?.message).toContain('unset REDIS_URL to let the service start a local Redis');
  });

  it('reports a refused port as nothing, not as something foreign', async () => {
    const port = await unusedPort();
    expect((await probeMysql({ host: '127.0.0.1', port })).state).toBe('nothing');
    expect((await probeRedis({ host: '127.0.0.1', port })).state).toBe('nothing');
  });
});

describe('local MariaDB and Redis', () => {
  // Starts them if nothing answers on the default ports; they stay up for the other tests.
  const databaseUrl = process.env.DATABASE_URL || DEFAULT_DATABASE_URL;
  const redisUrl = process.env.REDIS_URL || DEFAULT_REDIS_URL;
  const options = {
    databaseUrl,
    redisUrl,
    startDatabaseIfMissing: databaseUrl === DEFAULT_DATABASE_URL,
    startRedisIfMissing: redisUrl === DEFAULT_REDIS_URL,
    projectRoot,
  };

  beforeAll(async () => {
    await ensureLocalServices({ ...options, logger: recordingLogger() });
  }, 120_000);

  it('recognises both servers by the wire', async () => {
    expect(await probeMysql(addressOf(databaseUrl, 3306))).toEqual({ state: 'answers' });
    expect(await probeRedis(addressOf(redisUrl, 6379))).toEqual({ state: 'answers' });
  });

  it('lets the service log in as in DATABASE_URL', async () => {
    const connection = await createConnection({ uri: databaseUrl });
    try {
      const [rows] = await connection.query('SELECT DATABASE() AS db, 1 + 1 AS two');
      expect(rows).toEqual([{ db: new URL(databaseUrl).pathname.slice(1), two: 2 }]);
    } finally {
      await connection.end();
    }
  });

  it('uses the running servers on a second call', async () => {
    const logger = recordingLogger();
    await ensureLocalServices({ ...options, logger });
    expect(logger.lines.join('\n')).toMatch(/MariaDB: a MySQL server already answers/);
    expect(logger.lines.join('\n')).toMatch(/Redis: a Redis server already answers/);
  });
});
