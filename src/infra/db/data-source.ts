import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { DataSource } from 'typeorm';
import { parseDatabaseUrl } from './database-url.js';

export interface DataSourceOptions {
  databaseUrl: string;
  poolSize: number;
  entities: Function[];
}

/** Migrations are compiled next to the sources: dist/migrations/*.js. */
export const MIGRATIONS_GLOB = join(__dirname, '..', '..', '..', 'migrations', '*.{js,ts}');

export function createDataSource({ databaseUrl, poolSize, entities }: DataSourceOptions): DataSource {
  const location = parseDatabaseUrl(databaseUrl);
  return new DataSource({
    type: 'mysql',
    host: location.host,
    port: location.port,
    username: location.user,
    password: location.password,
    database: location.database,
    entities,
    migrations: [MIGRATIONS_GLOB],
    migrationsTableName: 'schema_migrations',
    // Schema changes go through migrations only, never synchronize.
    synchronize: false,
    // Dates are stored and read as UTC.
    timezone: 'Z',
    charset: 'utf8mb4_unicode_ci',
    poolSize,
    bigNumberStrings: true,
    supportBigNumbers: true,
    extra: { waitForConnections: true, queueLimit: 0, enableKeepAlive: true },
  });
}

/** Creates the database named in the URL when it does not exist yet. */
export async function ensureDatabaseExists(databaseUrl: string): Promise<void> {
  const { database, ...server } = parseDatabaseUrl(databaseUrl);
  const connection = await mysql.createConnection(server);
  try {
    await connection.query(
      `CREATE DATABASE IF NOT EXISTS \`${database.replace(/`/g, '``')}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
    );
  } finally {
    await connection.end();
  }
}
