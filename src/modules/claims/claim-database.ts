import { DataSource } from 'typeorm';
import type { AppContext } from '../../app-context.js';
import { parseDatabaseUrl } from '../../infra/db/database-url.js';
import { withTransaction, type Tx } from '../../infra/db/transaction.js';

const READ_COMMITTED = 'SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED';

interface CallbackConnection {
  query(sql: string, callback: (error: Error | null) => void): void;
  release(): void;
}
interface CallbackPool {
  on(event: 'connection', listener: (connection: CallbackConnection) => void): void;
  getConnection(callback: (error: Error | null, connection: CallbackConnection) => void): void;
}

/**
 * The claim path's own small connection pool. Its connections run READ COMMITTED for the whole
 * session (no SET TRANSACTION round trip per batch) and accept several statements in one round
 * trip, so that a batch of claims needs four round trips in all (start; locks and reads; writes;
 * commit). Transactions still go through the one transaction helper (deadlock and lock-wait
 * retries, events after commit).
 */
export class ClaimDatabase {
  private dataSource: DataSource | null = null;
  private opening: Promise<DataSource> | null = null;

  constructor(private readonly app: AppContext) {}

  async open(): Promise<void> {
    await this.opened();
  }

  /** The data source, opened on first use; a failed opening is tried again by the next caller. */
  private opened(): Promise<DataSource> {
    this.opening ??= this.connect().catch((error: unknown) => {
      this.opening = null;
      throw error;
    });
    return this.opening;
  }

  private async connect(): Promise<DataSource> {
    const location = parseDatabaseUrl(this.app.config.DATABASE_URL);
    const dataSource = new DataSource({
      type: 'mysql',
      host: location.host,
      port: location.port,
      username: location.user,
      password: location.password,
      database: location.database,
      entities: [],
      synchronize: false,
      timezone: 'Z',
      charset: 'utf8mb4_unicode_ci',
      supportBigNumbers: true,
      bigNumberStrings: true,
      multipleStatements: true,
      poolSize: Math.max(2, Math.ceil(this.app.config.DB_POOL_SIZE / 2)),
      extra: { waitForConnections: true, queueLimit: 0, enableKeepAlive: true },
    });
    await dataSource.initialize();
    const pool = (dataSource.driver as unknown as { pool: CallbackPool }).pool;
    // Every connection made from now on, and the one made by initialize(), reads committed data.
    pool.on('connection', (connection) => connection.query(READ_COMMITTED, () => undefined));
    await new Promise<void>((resolve, reject) =>
      pool.getConnection((error, connection) => {
        if (error) return reject(error);
        connection.query(READ_COMMITTED, (queryError) => {
          connection.release();
          if (queryError) reject(queryError);
          else resolve();
        });
      }),
    );
    this.dataSource = dataSource;
    return dataSource;
  }

  async transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    const dataSource = this.dataSource ?? (await this.opened());
    return withTransaction({ dataSource, eventBus: this.app.eventBus, logger: this.app.logger }, work);
  }

  async close(): Promise<void> {
    const opening = this.opening;
    this.opening = null;
    this.dataSource = null;
    const dataSource = await opening?.catch(() => null);
    if (dataSource?.isInitialized) await dataSource.destroy();
  }
}
