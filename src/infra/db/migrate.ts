import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { DataSource } from 'typeorm';
import type { Logger } from '../logging/logger.js';
import { isConnectionError, isRetryableTransactionError } from './transaction.js';

/** How long a lock holder that stopped renewing (killed mid-migration) blocks the others. */
const LOCK_LEASE_SECONDS = 60;
const LOCK_WAIT_MS = 180_000;

/**
 * Applies pending migrations, exactly once however many instances start at the same moment on
 * however many database nodes. The lock is a row in a table of its own (primary key id = 1):
 * `GET_LOCK` is local to one node of a Galera cluster, a row is certified cluster-wide, so of
 * two instances inserting it on two nodes one gets a duplicate key or a certification failure.
 * The holder renews its lease while it migrates; a lease left by a killed holder expires.
 */
export async function runMigrations(dataSource: DataSource, logger: Logger): Promise<void> {
  await dataSource.query(
    `CREATE TABLE IF NOT EXISTS schema_migration_lock (
       id TINYINT UNSIGNED NOT NULL,
       holder VARCHAR(191) NOT NULL,
       expires_at DATETIME(3) NOT NULL,
       PRIMARY KEY (id)
     ) ENGINE=InnoDB`,
  );
  const holder = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  await acquire(dataSource, holder, logger);
  const renew = setInterval(() => {
    dataSource
      .query(`UPDATE schema_migration_lock SET expires_at = NOW(3) + INTERVAL ${LOCK_LEASE_SECONDS} SECOND WHERE id = 1 AND holder = ?`, [holder])
      .catch((error: unknown) => logger.warn({ err: error }, 'migration lock not renewed'));
  }, (LOCK_LEASE_SECONDS * 1000) / 4);
  try {
    const applied = await dataSource.runMigrations({ transaction: 'each' });
    for (const migration of applied) logger.info({ migration: migration.name }, 'migration applied');
  } finally {
    clearInterval(renew);
    await dataSource.query('DELETE FROM schema_migration_lock WHERE id = 1 AND holder = ?', [holder]).catch(() => undefined);
  }
}

async function acquire(dataSource: DataSource, holder: string, logger: Logger): Promise<void> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  let waiting = false;
  for (;;) {
    try {
      await dataSource.query('DELETE FROM schema_migration_lock WHERE id = 1 AND expires_at < NOW(3)');
      await dataSource.query(`INSERT INTO schema_migration_lock (id, holder, expires_at) VALUES (1, ?, NOW(3) + INTERVAL ${LOCK_LEASE_SECONDS} SECOND)`, [holder]);
      return;
    } catch (error) {
      const errno = (error as { errno?: number; driverError?: { errno?: number } }).errno ?? (error as { driverError?: { errno?: number } }).driverError?.errno;
      // 1062: another instance holds it; 1213 / 1047 / lost connection: try again.
      if (errno !== 1062 && !isRetryableTransactionError(error) && !isConnectionError(error)) throw error;
    }
    if (Date.now() > deadline) throw new Error(`Timed out after ${LOCK_WAIT_MS / 1000} s waiting for another instance to finish migrations`);
    if (!waiting) logger.info('another instance is migrating the database; waiting');
    waiting = true;
    await new Promise((resolve) => setTimeout(resolve, 200 + Math.random() * 300));
  }
}
