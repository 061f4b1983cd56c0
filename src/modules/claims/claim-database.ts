import type { DataSource } from 'typeorm';
import type { AppContext } from '../../app-context.js';
import { openSessionPool } from '../../infra/db/special-connections.js';
import { withTransaction, type Tx } from '../../infra/db/transaction.js';

const READ_COMMITTED = 'SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED';
/** A claim batch's first statement (the campaign lock) opens its transaction: no START TRANSACTION round trip. */
const NO_AUTOCOMMIT = 'SET SESSION autocommit = 0';

/**
 * The claim path's own small connection pool. Its connections run READ COMMITTED with
 * autocommit off for the whole session: no SET TRANSACTION and no START TRANSACTION round trip
 * per batch (the batch's first statement opens its transaction, COMMIT ends it). Every
 * statement is its own round trip (no multiple statements: see claim-batch.ts). Transactions go
 * through the one transaction helper (deadlock, Galera and lost-connection retries, events after
 * commit); connections go to the database host the process currently writes through.
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
    const dataSource = await openSessionPool(this.app.config.DATABASE_URL, {
      poolSize: Math.max(2, Math.ceil(this.app.config.DB_POOL_SIZE / 2)),
      session: [READ_COMMITTED, NO_AUTOCOMMIT],
    });
    this.dataSource = dataSource;
    return dataSource;
  }

  /**
   * Runs a claim transaction. `newAssignmentIds` is read after the work ran: if the connection is
   * lost during COMMIT, those rows are looked up (on the main pool, whose sessions on Galera wait
   * for the cluster's latest writes) to learn whether the batch committed before answering.
   */
  async transaction<T>(work: (tx: Tx) => Promise<T>, newAssignmentIds?: () => string[]): Promise<T> {
    const dataSource = this.dataSource ?? (await this.opened());
    return withTransaction({ dataSource, eventBus: this.app.eventBus, logger: this.app.logger, metrics: this.app.metrics }, work, {
      committed: newAssignmentIds ? () => this.committed(newAssignmentIds()) : undefined,
      sessionOpensTransactions: true,
    });
  }

  /** Whether the assignments with these ids are stored: all (committed) or none (rolled back). */
  async committed(ids: string[]): Promise<boolean> {
    // A batch without new assignments changed nothing its answers depend on: running it again is harmless.
    if (ids.length === 0) return false;
    const [row] = await this.app.dataSource.query('SELECT COUNT(*) AS n FROM coupon_assignments WHERE id IN (?)', [ids]);
    const found = Number(row.n);
    if (found !== 0 && found !== ids.length) throw new Error(`claim batch half stored: ${found} of ${ids.length} assignments found`);
    return found === ids.length;
  }

  async close(): Promise<void> {
    const opening = this.opening;
    this.opening = null;
    this.dataSource = null;
    const dataSource = await opening?.catch(() => null);
    if (dataSource?.isInitialized) await dataSource.destroy();
  }
}
