import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { DataSource } from 'typeorm';
import type { MysqlDataSourceOptions } from 'typeorm/driver/mysql/MysqlDataSourceOptions.js';
import { DatabaseHosts, type WatchedPool } from './database-hosts.js';
import { parseDatabaseUrl } from '../../config/database-url.js';

export interface DataSourceOptions {
  databaseUrl: string;
  poolSize: number;
  entities: Function[];
}

/** Migrations are compiled next to the sources: dist/migrations/*.js. */
export const MIGRATIONS_GLOB = join(__dirname, '..', '..', '..', 'migrations', '*.{js,ts}');

/**
 * mysql2 options for a connection to DATABASE_URL. With several hosts, the socket is opened by
 * DatabaseHosts to the host this process currently writes through (the one way to the database
 * for every pool and special connection).
 */
export function connectionOptions(databaseUrl: string): { host: string; port: number; user: string; password: string; database: string; stream?: () => unknown } {
  const location = parseDatabaseUrl(databaseUrl);
  const hosts = DatabaseHosts.for(databaseUrl);
  if (!hosts.multiple) return location;
  return { ...location, host: hosts.current.host, port: hosts.current.port, stream: hosts.stream };
}

interface CallbackConnection {
  query(sql: string, callback: (error: Error | null) => void): void;
  release(): void;
}
/** The driver's callback API for one statement (a pool or one of its connections). */
export interface CallbackQueryable {
  query(sql: string, values: unknown[], callback: (error: Error | null, rows: unknown) => void): void;
}
interface CallbackPool extends CallbackQueryable {
  on(event: 'connection', listener: (connection: CallbackConnection) => void): void;
  getConnection(callback: (error: Error | null, connection: CallbackConnection) => void): void;
}

const callbackPool = (dataSource: DataSource) => (dataSource.driver as unknown as { pool: CallbackPool & WatchedPool }).pool;

/**
 * Lets DatabaseHosts follow the pool of an initialized data source (with several hosts): when
 * writes move back to an earlier host, its connections to the one left are closed as they
 * become idle, not in the middle of a statement.
 */
export function followHostMoves(dataSource: DataSource, databaseUrl: string): void {
  const hosts = DatabaseHosts.for(databaseUrl);
  if (hosts.multiple) hosts.watchPool(callbackPool(dataSource));
}

/**
 * One statement through the driver's callback API: the same rows as TypeORM's query, without its
 * query runner, events and copy of the result, and without mysql2's promise wrapper (a require
 * and a wrapper per statement; with `trace` on, a captured stack). Errors are the driver's (errno, code, fatal).
 */
export function callbackQuery<T = any>(queryable: CallbackQueryable, sql: string, params: unknown[] = []): Promise<T> {
  return new Promise<T>((resolve, reject) => queryable.query(sql, params, (error, rows) => (error ? reject(error) : resolve(rows as T))));
}

/** One statement on the data source's own pool (the same connections and session settings as `dataSource.query`), for hot reads. */
export const poolQuery = <T = any>(dataSource: DataSource, sql: string, params: unknown[] = []): Promise<T> => callbackQuery<T>(callbackPool(dataSource), sql, params);

/**
 * Runs the statements on every connection the data source's pool opens from now on, and on the
 * one its initialize() opened (session settings without a round trip per transaction).
 */
export async function onEveryConnection(dataSource: DataSource, statements: string[]): Promise<void> {
  if (statements.length === 0) return;
  const pool = callbackPool(dataSource);
  const apply = (connection: CallbackConnection, done: (error: Error | null) => void) => {
    let left = statements.length;
    let failed: Error | null = null;
    for (const sql of statements) {
      connection.query(sql, (error) => {
        failed ??= error;
        if (--left === 0) done(failed);
      });
    }
  };
  pool.on('connection', (connection) => apply(connection, () => undefined));
  await new Promise<void>((resolve, reject) =>
    pool.getConnection((error, connection) => {
      if (error) return reject(error);
      apply(connection, (applyError) => {
        connection.release();
        if (applyError) reject(applyError);
        else resolve();
      });
    }),
  );
}

/** On a Galera node, reads wait until the node has applied every write committed before them. */
export const SYNC_WAIT = 'SET SESSION wsrep_sync_wait = 1';

/** TypeORM options of a pool to DATABASE_URL (the main pool, or a special one: see special-connections.ts). */
export function dataSourceOptions(databaseUrl: string, poolSize: number, entities: Function[]): MysqlDataSourceOptions {
  const { stream, ...location } = connectionOptions(databaseUrl);
  return {
    type: 'mysql',
    host: location.host,
    port: location.port,
    username: location.user,
    password: location.password,
    database: location.database,
    entities,
    // Schema changes go through migrations only, never synchronize.
    synchronize: false,
    // Dates are stored and read as UTC.
    timezone: 'Z',
    charset: 'utf8mb4_unicode_ci',
    poolSize,
    bigNumberStrings: true,
    supportBigNumbers: true,
    // trace off: mysql2 would capture the caller's stack for every query (the cost of a whole
    // statement on a busy claim path); a driver error still carries its SQL, code and errno.
    extra: { waitForConnections: true, queueLimit: 0, enableKeepAlive: true, trace: false, ...(stream ? { stream } : {}) },
  };
}

export function createDataSource({ databaseUrl, poolSize, entities }: DataSourceOptions): DataSource {
  return new DataSource({ ...dataSourceOptions(databaseUrl, poolSize, entities), migrations: [MIGRATIONS_GLOB], migrationsTableName: 'schema_migrations' });
}

/**
 * Opens the service's main data source: waits for a ready host, then (on Galera) makes every
 * read of its sessions see the writes committed anywhere in the cluster before it.
 */
export async function openDataSource(dataSource: DataSource, databaseUrl: string, extraSession: string[] = []): Promise<void> {
  const hosts = DatabaseHosts.for(databaseUrl);
  await dataSource.initialize();
  followHostMoves(dataSource, databaseUrl);
  await onEveryConnection(dataSource, [...(hosts.galera ? [SYNC_WAIT] : []), ...extraSession]);
}

/** Creates the database named in the URL when it does not exist yet. */
export async function ensureDatabaseExists(databaseUrl: string): Promise<void> {
  const { database, ...server } = connectionOptions(databaseUrl);
  const connection = await mysql.createConnection(server as mysql.ConnectionOptions);
  try {
    await connection.query(
      `CREATE DATABASE IF NOT EXISTS \`${database.replace(/`/g, '``')}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
    );
  } finally {
    await connection.end();
  }
}
