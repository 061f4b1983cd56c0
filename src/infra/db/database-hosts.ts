import { connect, type Socket } from 'node:net';
import mysql from 'mysql2/promise';
import type { Logger } from '../logging/logger.js';
import { parseDatabaseHosts, parseDatabaseUrl, type DatabaseHost } from '../../config/database-url.js';

/** What a probe of one host found. */
export interface HostState {
  ready: boolean;
  /** The server is a Galera node (wsrep_on=ON). */
  galera: boolean;
  /** Why it is not ready, for logs and /health/ready. */
  detail: string;
}

const PROBE_TIMEOUT_MS = 1500;
/**
 * How long connections to a host this process moved away from while it still answered (back to
 * an earlier host of the list) may finish the statement they are running before they are closed.
 */
export const DRAIN_MS = 5_000;

/** A mysql2 pool (callback API) whose connections DatabaseHosts follows, so that it closes only idle ones on a move. */
export interface WatchedPool {
  on(event: 'acquire' | 'release', listener: (connection: WatchedConnection) => void): unknown;
  releaseConnection(connection: WatchedConnection): void;
}
interface WatchedConnection {
  stream: Socket;
  destroy(): void;
}

/**
 * Whether a server may take writes now. A Galera node only while wsrep_ready=ON and its state is
 * Synced (a node cut off from the cluster still answers, then fails every query with 1047); a
 * plain MySQL / MariaDB whenever it answers.
 */
export async function wsrepState(query: (sql: string) => Promise<Array<Record<string, unknown>>>): Promise<HostState> {
  const on = await query("SHOW GLOBAL VARIABLES LIKE 'wsrep_on'");
  if (on.length === 0 || String(on[0].Value).toUpperCase() !== 'ON') return { ready: true, galera: false, detail: 'ok' };
  const rows = await query("SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_ready', 'wsrep_local_state_comment')");
  const status = new Map(rows.map((row) => [String(row.Variable_name).toLowerCase(), String(row.Value)]));
  const state = status.get('wsrep_local_state_comment') ?? 'unknown';
  const ready = status.get('wsrep_ready') === 'ON' && state === 'Synced';
  return { ready, galera: true, detail: ready ? 'ok' : `Galera node not ready (wsrep_ready=${status.get('wsrep_ready') ?? '?'}, state ${state})` };
}

/**
 * The hosts of one DATABASE_URL and the one this process writes through. Every connection of
 * every pool (TypeORM, the claim pool, the importer, exports) is opened through `stream()`, to
 * the current host. A host is chosen as the first of the URL's list that is ready; when it fails
 * (a connection refused or lost, a 1047, a probe finding it not Synced), the next ready one is
 * chosen and every socket still open to the old one is closed, so that no pool keeps using it.
 * The check runs every second, so a process also moves back to an earlier host once it is ready
 * again: processes with the same URL write through the same node. Such a move leaves a host that
 * still works, so its connections are closed as they become idle (at most DRAIN_MS later): a
 * statement running on one, a plain read as much as a transaction, finishes there.
 */
export class DatabaseHosts {
  private static readonly registry = new Map<string, DatabaseHosts>();

  /** One instance per host list and user in a process: all pools share the choice. */
  static for(databaseUrl: string): DatabaseHosts {
    const hosts = parseDatabaseHosts(databaseUrl);
    const { user, password } = parseDatabaseUrl(databaseUrl);
    const key = `${user}@${hosts.map((h) => `${h.host}:${h.port}`).join(',')}`;
    let instance = DatabaseHosts.registry.get(key);
    if (!instance) {
      instance = new DatabaseHosts(hosts, user, password);
      DatabaseHosts.registry.set(key, instance);
    }
    return instance;
  }

  /** Tells every instance that a server refused work (1047 and the like): re-check now. */
  static noteTrouble(): void {
    for (const instance of DatabaseHosts.registry.values()) instance.recheck();
  }

  private active = 0;
  private selected: Promise<number> | null = null;
  private checking: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private users = 0;
  private readonly sockets = new Map<number, Set<Socket>>();
  /** Sockets of pooled connections now idle in their pool (see watchPool). */
  private readonly idle = new WeakSet<Socket>();
  /** Sockets to a host moved away from, closed once idle (or DRAIN_MS after the move). */
  private readonly retiring = new Set<Socket>();
  private logger: Logger | null = null;
  /** Whether the current host is a Galera node (known after the first probe). */
  galera = false;

  private constructor(
    readonly hosts: DatabaseHost[],
    private readonly user: string,
    private readonly password: string,
  ) {}

  get current(): DatabaseHost {
    return this.hosts[this.active];
  }

  get multiple(): boolean {
    return this.hosts.length > 1;
  }

  /** mysql2's `stream` option: every new connection goes to the current host. */
  readonly stream = (): Socket => {
    const index = this.active;
    const { host, port } = this.hosts[index];
    const socket = connect({ host, port });
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    let open = this.sockets.get(index);
    if (!open) this.sockets.set(index, (open = new Set()));
    open.add(socket);
    socket.once('error', () => {
      if (index === this.active) this.recheck();
    });
    socket.once('close', () => {
      open!.delete(socket);
      this.retiring.delete(socket);
    });
    return socket;
  };

  /**
   * Follows a pool's connections: idle in the pool (released) or lent out (acquired). A connection
   * to a host being left is closed when it is released, instead of going back to the pool or to
   * the next waiter (who then gets a new connection, to the current host).
   */
  watchPool(pool: WatchedPool): void {
    pool.on('acquire', (connection) => this.idle.delete(connection.stream));
    pool.on('release', (connection) => this.idle.add(connection.stream));
    const release = pool.releaseConnection.bind(pool);
    // mysql2 hands a released connection straight to a waiting caller without a 'release' event:
    // the check has to come before that.
    pool.releaseConnection = (connection) => {
      if (this.retiring.has(connection.stream)) connection.destroy();
      release(connection);
    };
  }

  /**
   * Starts using the hosts: waits for the first ready one (trying for up to `waitMs`), then
   * checks every second. Balanced by release().
   */
  async start(logger: Logger, waitMs = 30_000): Promise<void> {
    this.logger = logger;
    this.users++;
    this.selected ??= this.selectFirstReady(waitMs);
    try {
      await this.selected;
    } catch (error) {
      this.selected = null;
      this.users--;
      throw error;
    }
    if (this.multiple && !this.timer) {
      this.timer = setInterval(() => this.recheck(), 1000);
      this.timer.unref();
    }
  }

  release(): void {
    this.users = Math.max(0, this.users - 1);
    if (this.users === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  /** Probes the hosts now (at most one check at a time) and moves if the current one is not the first ready. */
  recheck(): void {
    this.checking ??= this.check()
      .catch((error: unknown) => this.logger?.warn({ err: error }, 'database host check failed'))
      .finally(() => (this.checking = null));
  }

  /** Probes one host over a connection of its own. */
  async probe(index: number): Promise<HostState> {
    const { host, port } = this.hosts[index];
    let connection: mysql.Connection | null = null;
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${PROBE_TIMEOUT_MS} ms`)), PROBE_TIMEOUT_MS).unref());
    try {
      const work = (async () => {
        connection = await mysql.createConnection({ host, port, user: this.user, password: this.password, connectTimeout: PROBE_TIMEOUT_MS });
        const c = connection;
        return wsrepState(async (sql) => (await c.query(sql))[0] as Array<Record<string, unknown>>);
      })();
      work.catch(() => undefined);
      return await Promise.race([work, timeout]);
    } catch (error) {
      return { ready: false, galera: false, detail: error instanceof Error ? error.message : String(error) };
    } finally {
      (connection as mysql.Connection | null)?.destroy();
    }
  }

  private async check(): Promise<void> {
    for (let index = 0; index < this.hosts.length; index++) {
      const state = await this.probe(index);
      if (state.ready) {
        this.galera = state.galera;
        // An earlier host ready again: the current one still works, its statements may finish.
        if (index !== this.active) this.moveTo(index, state, index < this.active);
        return;
      }
      if (index === this.active) this.logger?.warn({ host: this.describe(index), reason: state.detail }, 'database host not ready');
    }
    // None ready: stay, and let the transaction retries and the next check try again.
  }

  private async selectFirstReady(waitMs: number): Promise<number> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const reasons: string[] = [];
      for (let index = 0; index < this.hosts.length; index++) {
        const state = await this.probe(index);
        if (state.ready) {
          this.active = index;
          this.galera = state.galera;
          return index;
        }
        reasons.push(`${this.describe(index)}: ${state.detail}`);
      }
      if (Date.now() > deadline) throw new Error(`No database host is ready: ${reasons.join('; ')}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  private moveTo(index: number, state: HostState, drain: boolean): void {
    const old = this.active;
    this.active = index;
    this.logger?.warn({ from: this.describe(old), to: this.describe(index), galera: state.galera, drain }, 'database writes moved to another host');
    // Connections to the old host are closed (idle ones at once; with `drain`, busy ones when
    // they are released or after DRAIN_MS): pools drop them and open new ones to this host.
    const leftover = [...(this.sockets.get(old) ?? [])];
    const close = (socket: Socket) => socket.destroy(new Error(`database host ${this.describe(old)} is no longer used`));
    for (const socket of leftover) {
      if (!drain || this.idle.has(socket)) close(socket);
      else this.retiring.add(socket);
    }
    if (!drain) return;
    setTimeout(() => {
      for (const socket of leftover) if (this.retiring.has(socket)) close(socket);
    }, DRAIN_MS).unref();
  }

  describe(index = this.active): string {
    const { host, port } = this.hosts[index];
    return `${host}:${port}`;
  }
}
