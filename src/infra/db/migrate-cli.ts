import 'reflect-metadata';
import { loadConfig } from '../../config/config.js';
import { createLogger } from '../logging/logger.js';
import { DatabaseHosts } from './database-hosts.js';
import { createDataSource, ensureDatabaseExists, openDataSource } from './data-source.js';
import { runMigrations } from './migrate.js';

/** `npm run migrate`: creates the database if missing and applies pending migrations. */
async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL);
  const hosts = DatabaseHosts.for(config.DATABASE_URL);
  await hosts.start(logger);
  await ensureDatabaseExists(config.DATABASE_URL);
  const dataSource = createDataSource({ databaseUrl: config.DATABASE_URL, poolSize: 2, entities: [] });
  await openDataSource(dataSource, config.DATABASE_URL);
  try {
    await runMigrations(dataSource, logger);
    logger.info('migrations are up to date');
  } finally {
    await dataSource.destroy();
    hosts.release();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
