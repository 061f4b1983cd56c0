import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import mysql from 'mysql2/promise';
import { parseDatabaseUrl } from '../../src/config/database-url';
import { DatabaseHosts } from '../../src/infra/db/database-hosts';
import { eventually, unusedPort } from '../helpers/fixtures';
import { dropDatabase, startTestApp, type TestApp } from '../helpers/test-app';

/**
 * A second way to the test MariaDB, as an earlier host of DATABASE_URL: a TCP proxy that can be
 * down (nothing listens: connections refused) and then come up.
 */
class TcpProxy {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  /** Local ports of the proxy's own connections to MariaDB (how its sessions show in the processlist). */
  readonly upstreamPorts = new Set<number>();

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}

  listen(port: number): Promise<void> {
    this.server = createServer((client) => {
      const upstream = connect({ host: this.host, port: this.port });
      upstream.once('connect', () => this.upstreamPorts.add(upstream.localPort!));
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.once('close', () => this.sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      client.once('close', () => upstream.destroy());
      upstream.once('close', () => client.destroy());
      client.pipe(upstream).pipe(client);
    });
    return new Promise((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

describe('writes moving back to an earlier database host', () => {
  const upstream = parseDatabaseUrl(process.env.DATABASE_URL!);
  const database = `coupons_test_moves_${randomBytes(4).toString('hex')}`;
  const proxy = new TcpProxy(upstream.host, upstream.port);
  let admin: mysql.Connection;
  let t: TestApp;
  let url: string;
  let proxyPort: number;
  const credentials = `${encodeURIComponent(upstream.user)}${upstream.password ? `:${encodeURIComponent(upstream.password)}` : ''}`;

  /** The app's sessions that reach MariaDB directly, not through the proxy. */
  async function directSessions(): Promise<number> {
    const [rows] = await admin.query<any[]>('SELECT HOST AS host FROM information_schema.PROCESSLIST WHERE DB = ?', [database]);
    return rows.filter((row) => !proxy.upstreamPorts.has(Number(String(row.host).split(':')[1]))).length;
  }

  beforeAll(async () => {
    proxyPort = await unusedPort();
    // The proxy first: it is down, so the process starts on MariaDB's own address.
    url = `mysql://${credentials}@127.0.0.1:${proxyPort},${upstream.host}:${upstream.port}/${database}`;
    admin = await mysql.createConnection({ host: upstream.host, port: upstream.port, user: upstream.user, password: upstream.password });
    t = await startTestApp({ shareWith: { databaseUrl: url, queuePrefix: `test-moves-${randomBytes(3).toString('hex')}` } });
  });

  afterAll(async () => {
    await t?.stop();
    await proxy.close();
    await admin?.end();
    await dropDatabase(`mysql://${credentials}@${upstream.host}:${upstream.port}/${database}`);
  });

  it('lets a statement running on the host left finish there, and closes the connections to it once idle', async () => {
    const hosts = DatabaseHosts.for(url);
    expect(hosts.describe()).toBe(`${upstream.host}:${upstream.port}`);
    // Idle connections in the pool, and one statement running when the move comes.
    await Promise.all(Array.from({ length: 4 }, () => t.app.dataSource.query('SELECT 1')));
    expect(await directSessions()).toBeGreaterThanOrEqual(4);
    const running = t.app.dataSource.query('SELECT SLEEP(3) AS slept');

    await proxy.listen(proxyPort);
    await eventually(() => hosts.describe() === `127.0.0.1:${proxyPort}`, 5_000, 'writes to move to the earlier host');
    // The idle ones are closed at once; the busy one still runs.
    await eventually(async () => (await directSessions()) === 1, 2_000, 'only the busy connection left on the host moved away from');

    const [row] = await running;
    expect(Number(row.slept)).toBe(0);
    // Released, it is closed instead of going back to the pool; new statements go through the proxy.
    await eventually(async () => (await directSessions()) === 0, 2_000, 'the busy connection to close once released');
    await t.app.dataSource.query('SELECT 1');
    const [sessions] = await admin.query<any[]>('SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE DB = ?', [database]);
    expect(Number(sessions[0].n)).toBeGreaterThan(0);
    expect(await directSessions()).toBe(0);
  });

  it('gives statements waiting for a pooled connection new ones to the current host, not the ones being left', async () => {
    const hosts = DatabaseHosts.for(url);
    // The proxy fails: writes move to MariaDB's own address at once.
    await proxy.close();
    await eventually(() => hosts.describe() === `${upstream.host}:${upstream.port}`, 5_000, 'writes to move off the failed host');
    // Every connection of the pool (DB_POOL_SIZE 10) busy, five more statements waiting for one.
    const busy = Array.from({ length: 10 }, () => t.app.dataSource.query('SELECT SLEEP(3) AS slept'));
    await eventually(async () => (await directSessions()) >= 10, 2_000, 'the pool to be busy');
    const waiting = Array.from({ length: 5 }, () => t.app.dataSource.query('SELECT CONNECTION_ID() AS id'));

    await proxy.listen(proxyPort);
    await eventually(() => hosts.describe() === `127.0.0.1:${proxyPort}`, 5_000, 'writes to move back to the earlier host');
    expect((await Promise.all(busy)).map(([row]) => Number(row.slept))).toEqual(Array(10).fill(0));
    // (One session may have served several of them in turn.)
    const ids = [...new Set((await Promise.all(waiting)).map(([row]) => Number(row.id)))];
    // The waiting statements ran on sessions opened through the proxy.
    const [rows] = await admin.query<any[]>('SELECT ID AS id, HOST AS host FROM information_schema.PROCESSLIST WHERE ID IN (?)', [ids]);
    expect(rows).toHaveLength(ids.length);
    for (const row of rows) expect(proxy.upstreamPorts.has(Number(String(row.host).split(':')[1]))).toBe(true);
    await eventually(async () => (await directSessions()) === 0, 2_000, 'the connections to the host left to close');
  });
});
