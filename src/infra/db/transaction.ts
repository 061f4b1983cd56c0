import type { DataSource, EntityManager } from 'typeorm';
import type { IsolationLevel } from 'typeorm/driver/types/IsolationLevel.js';
import type { DomainEvent, EventBus } from '../events/event-bus.js';
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
  /** How many times a deadlock or lock-wait timeout is retried with a fresh transaction. */
  retries?: number;
}

interface TransactionDeps {
  dataSource: DataSource;
  eventBus: EventBus;
  logger: Logger;
}

const RETRYABLE_ERRNOS = new Set([
  1213, // ER_LOCK_DEADLOCK
  1205, // ER_LOCK_WAIT_TIMEOUT
]);

export function isRetryableTransactionError(error: unknown): boolean {
  const errno = (error as { errno?: number; driverError?: { errno?: number } })?.errno ??
    (error as { driverError?: { errno?: number } })?.driverError?.errno;
  return errno !== undefined && RETRYABLE_ERRNOS.has(errno);
}

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
  const maxRetries = options.retries ?? 5;
  for (let attempt = 0; ; attempt++) {
    const runner = deps.dataSource.createQueryRunner();
    const hooks: Array<() => void | Promise<void>> = [];
    const events: DomainEvent[] = [];
    try {
      await runner.connect();
      await runner.startTransaction(options.isolation);
      const tx: Tx = {
        manager: runner.manager,
        query: (sql, params) => runner.query(sql, params as unknown[]),
        publish: (event) => events.push(event),
        afterCommit: (hook) => hooks.push(hook),
      };
      const result = await work(tx);
      await runner.commitTransaction();
      for (const event of events) deps.eventBus.publish(event);
      for (const hook of hooks) {
        deps.eventBus.track(
          Promise.resolve()
            .then(hook)
            .catch((error: unknown) => deps.logger.error({ err: error }, 'after-commit hook failed')),
        );
      }
      return result;
    } catch (error) {
      if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
      if (attempt < maxRetries && isRetryableTransactionError(error)) {
        deps.logger.debug({ attempt, errno: (error as { errno?: number }).errno }, 'transaction retried');
        await sleep(5 * 2 ** attempt + Math.random() * 10);
        continue;
      }
      throw error;
    } finally {
      await runner.release();
    }
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
