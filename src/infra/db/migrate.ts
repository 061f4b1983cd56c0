import type { DataSource } from 'typeorm';
import type { Logger } from '../logging/logger.js';

const MIGRATION_LOCK = 'coupon_lists_migrations';

/**
 * Applies pending migrations. A MySQL named lock makes it safe when several instances start at
 * the same moment: the others wait, then find nothing left to apply.
 */
export async function runMigrations(dataSource: DataSource, logger: Logger): Promise<void> {
  const lockRunner = dataSource.createQueryRunner();
  await lockRunner.connect();
  try {
    const [{ acquired }] = await lockRunner.query('SELECT GET_LOCK(?, 120) AS acquired', [MIGRATION_LOCK]);
    if (Number(acquired) !== 1) throw new Error('Timed out after 120 s waiting for another instance to finish migrations');
    const applied = await dataSource.runMigrations({ transaction: 'each' });
    for (const migration of applied) logger.info({ migration: migration.name }, 'migration applied');
  } finally {
    await lockRunner.query('SELECT RELEASE_LOCK(?)', [MIGRATION_LOCK]).catch(() => undefined);
    await lockRunner.release();
  }
}
