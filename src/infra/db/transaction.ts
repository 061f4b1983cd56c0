import { setTimeout as sleep } from 'node:timers/promises';
import type { DataSource, EntityManager } from 'typeorm';
import type { IsolationLevel } from 'typeorm/driver/types/IsolationLevel.js';
import type { DomainEvent, EventBus } from '../events/event-bus.js';
import { callbackQuery, type CallbackQueryable } from './data-source.js';
import { DatabaseHosts } from './database-hosts.js';
import type { Logger } from '../logging/logger.js';

/** What work inside a transaction gets: the manager bound to the transaction and after-commit hooks. */
export interface Tx {
  readonly manager: EntityManager;
  query<T = any>(sql: string, params?: unknown[]): Promise<T>;
  /** Published on the event bus once the transaction has committed; dropped on rollback. */
  publish(event: DomainEvent): void;
  /** Runs once the transaction has committed; dropped on rollback. */
  afterCommit(hook: () => void | Promise<void>): void;
}

export interface TransactionOptions {
  isolation?: IsolationLevel;
  /** How many times a deadlock, lock-wait timeout or Galera refusal is retried with a fresh transaction. */
  retries?: number;
  /**
   * Asked when the connection was lost during COMMIT, so that the outcome is unknown: reads the
   * work's own rows back (on a fresh connection, maybe on another host) and says whether the
   * transaction committed. True: the work's result stands; false: the work runs again. Without
   * it, such a failure is thrown to the caller (never retried blindly: it may have committed).
   */
  committed?: () => Promise<boolean>;
  /**
   * The data source's sessions run with `autocommit = 0`: the work's first statement opens the
   * transaction, so no START TRANSACTION round trip is sent (COMMIT / ROLLBACK end it as usual;
   * a connection whose ROLLBACK failed is closed, never handed out inside a transaction).
   */
  sessionOpensTransactions?: boolean;
}

interface TransactionDeps {
  dataSource: DataSource;
  eventBus: EventBus;
  logger: Logger;
  metrics?: { transactionRetries: { inc(labels: { reason: RetryReason }): void } };
}

type RetryReason = 'deadlock' | 'lock_wait_timeout' | 'node_not_ready' | 'write_conflict' | 'connection_lost' | 'commit_unknown';

function retryReason(error: unknown): RetryReason {
  if (error instanceof WriteConflictError) return 'write_conflict';
  const { errno } = driverFields(error);
  if (errno === 1213) return 'deadlock';
  if (errno === 1205) return 'lock_wait_timeout';
  if (errno === 1047) return 'node_not_ready';
  return 'connection_lost';
}

const RETRYABLE_ERRNOS = new Set([
  1213, // ER_LOCK_DEADLOCK; on Galera also a certification failure at COMMIT or a write aborted by another node's
  1205, // ER_LOCK_WAIT_TIMEOUT
  1047, // WSREP has not yet prepared node for application use (node not Synced)
]);

/** Errors of a connection that is gone (server killed, network cut, host switched). */
const CONNECTION_ERRNOS = new Set([2006, 2013, 1053, 1927, 1080]);
const CONNECTION_CODES = new Set([
  'PROTOCOL_CONNECTION_LOST', 'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH',
  'PROTOCOL_SEQUENCE_TIMEOUT', 'ER_SERVER_SHUTDOWN', 'ER_CONNECTION_KILLED', 'ERR_STREAM_DESTROYED', 'ERR_SOCKET_CLOSED',
]);

/** How long lost connections are retried: a failover to the next host takes a few seconds. */
const CONNECTION_RETRY_MS = 20_000;

function driverFields(error: unknown): { errno?: number; code?: string; message?: string; fatal?: boolean } {
  const e = error as { errno?: number; code?: string; message?: string; fatal?: boolean; driverError?: { errno?: number; code?: string; fatal?: boolean } };
  return { errno: e?.errno ?? e?.driverError?.errno, code: e?.code ?? e?.driverError?.code, message: e?.message, fatal: e?.fatal ?? e?.driverError?.fatal };
}

/**
 * A guarded write found its row changed since it was read (`WHERE counter = <read>` matched
 * nothing): the transaction is rolled back and run again, like a deadlock.
 */
export class WriteConflictError extends Error {
  override name = 'WriteConflictError';
}

export function isRetryableTransactionError(error: unknown): boolean {
  if (error instanceof WriteConflictError) return true;
  const { errno } = driverFields(error);
  return errno !== undefined && RETRYABLE_ERRNOS.has(errno);
}

/** The connection died under the work: nothing more can be said about it on that connection. */
export function isConnectionError(error: unknown): boolean {
  const { errno, code, message, fatal } = driverFields(error);
  if (errno !== undefined && CONNECTION_ERRNOS.has(errno)) return true;
  if (code !== undefined && CONNECTION_CODES.has(code)) return true;
  if (fatal) return true;
  return /closed state|Connection lost|is no longer used|socket hang up/i.test(message ?? '');
}

/** Full jitter: processes retrying after one failover do not come back in step. */
const backoff = (attempt: number) => Math.random() * Math.min(1000, 10 * 2 ** attempt);

/**
 * The one way to run a transaction. The work runs in a fresh transaction on every attempt:
 * a deadlock or lock-wait timeout rolls everything back, so the whole unit is retried, not the
 * last statement. Events and hooks registered by the work fire only after COMMIT succeeds.
 */
export async function withTransaction<T>(
  deps: TransactionDeps,
  work: (tx: Tx) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  const maxRetries = options.retries ?? 8;
  const implicit = options.sessionOpensTransactions === true;
  if (implicit && options.isolation) throw new Error('sessionOpensTransactions: set the isolation level on the session instead');
  const started = Date.now();
  for (let attempt = 0; ; attempt++) {
    const runner = deps.dataSource.createQueryRunner();
    const hooks: Array<() => void | Promise<void>> = [];
    const events: DomainEvent[] = [];
    let committing = false;
    let result: T;
    try {
      const connection = (await runner.connect()) as CallbackQueryable;
      if (!implicit) await runner.startTransaction(options.isolation);
      // Whether the work sent anything: a session that opens transactions by itself has nothing
      // to commit when nothing was sent (a claim batch that found its claims taken).
      let sent = false;
      const tx: Tx = {
        get manager() {
          sent = true;
          return runner.manager;
        },
        // On the runner's connection, straight through the driver (the statements of a batch are the hot path).
        query: (sql, params) => {
          sent = true;
          return callbackQuery(connection, sql, (params ?? []) as unknown[]);
        },
        publish: (event) => events.push(event),
        afterCommit: (hook) => hooks.push(hook),
      };
      result = await work(tx);
      committing = true;
      if (implicit) {
        if (sent) await runner.query('COMMIT');
      } else await runner.commitTransaction();
    } catch (error) {
      const lost = isConnectionError(error);
      if (implicit && !lost) await runner.query('ROLLBACK').catch(() => closeConnection(runner));
      else if (runner.isTransactionActive && !lost) await runner.rollbackTransaction().catch(() => undefined);
      const retryable = isRetryableTransactionError(error);
      if (lost || driverFields(error).errno === 1047) DatabaseHosts.noteTrouble();
      if (committing && lost) {
        // The COMMIT went out and no answer came back: it may have committed.
        if (!options.committed) throw error;
        if (await verified(deps, options.committed, started)) {
          deps.logger.warn({ err: error }, 'connection lost during COMMIT; the transaction had committed');
          return finish(deps, result!, events, hooks);
        }
        deps.logger.warn({ err: error }, 'connection lost during COMMIT; the transaction had not committed and runs again');
        deps.metrics?.transactionRetries.inc({ reason: 'commit_unknown' });
        await sleep(backoff(attempt));
        continue;
      }
      if ((retryable && attempt < maxRetries) || (lost && Date.now() - started < CONNECTION_RETRY_MS)) {
        deps.logger.debug({ attempt, errno: driverFields(error).errno, code: driverFields(error).code }, 'transaction retried');
        deps.metrics?.transactionRetries.inc({ reason: retryReason(error) });
        await sleep(backoff(attempt));
        continue;
      }
      throw error;
    } finally {
      await runner.release().catch(() => undefined);
    }
    return finish(deps, result, events, hooks);
  }
}

/** Asks the read-back until the database answers (a failover may be under way). */
async function verified(deps: TransactionDeps, committed: () => Promise<boolean>, started: number): Promise<boolean> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await committed();
    } catch (error) {
      if (!isConnectionError(error) && !isRetryableTransactionError(error)) throw error;
      if (Date.now() - started > CONNECTION_RETRY_MS * 2) throw error;
      DatabaseHosts.noteTrouble();
      await sleep(backoff(attempt + 3));
    }
  }
}

/** After COMMIT: the work's events, then its hooks. */
function finish<T>(deps: TransactionDeps, result: T, events: DomainEvent[], hooks: Array<() => void | Promise<void>>): T {
  for (const event of events) deps.eventBus.publish(event);
  for (const hook of hooks) {
    deps.eventBus.track(
      Promise.resolve()
        .then(hook)
        .catch((error: unknown) => deps.logger.error({ err: error }, 'after-commit hook failed')),
    );
  }
  return result;
}

/** Closes the query runner's connection instead of returning it to the pool (its state is unknown). */
function closeConnection(runner: unknown): void {
  (runner as { databaseConnection?: { destroy?: () => void } }).databaseConnection?.destroy?.();
}

