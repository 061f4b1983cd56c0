import mysql from 'mysql2';
import type { Readable } from 'node:stream';
import { DataSource, type QueryRunner } from 'typeorm';
import { connectionOptions, dataSourceOptions, followHostMoves, onEveryConnection } from './data-source.js';
import type { Tx } from './transaction.js';

/**
 * The one way to database connections besides the main pool. Every one of them is opened with
 * connectionOptions, so with several database hosts it goes to the host this process currently
 * writes through (DatabaseHosts), like the main pool:
 * - a pool of its own whose sessions carry settings (the claim path's READ COMMITTED pool);
 * - a connection holding one consistent read view for a long stream (usage exports);
 * - the driver under a query runner, for what TypeORM does not offer (prepared statements with
 *   binary parameters, LOAD DATA LOCAL INFILE from memory).
 */

/** A pool of its own: `session` runs once on every connection it opens (no round trip per transaction). */
export async function openSessionPool(databaseUrl: string, options: { poolSize: number; session: string[] }): Promise<DataSource> {
  const dataSource = new DataSource(dataSourceOptions(databaseUrl, options.poolSize, []));
  await dataSource.initialize();
  followHostMoves(dataSource, databaseUrl);
  try {
    await onEveryConnection(dataSource, options.session);
  } catch (error) {
    await dataSource.destroy().catch(() => undefined);
    throw error;
  }
  return dataSource;
}

/** One connection inside `START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY`: every read sees the same moment. */
export interface SnapshotConnection {
  query<T = any>(sql: string, values?: unknown[]): Promise<T>;
  /** Rows as arrays, streamed with back-pressure: the connection stops reading while the consumer catches up. */
  stream(sql: string, values: unknown[], highWaterMark: number): Readable;
  /** Ends the read view and closes the connection. */
  end(): Promise<void>;
  /** Closes the connection at once (after an error). */
  destroy(): void;
}

/**
 * Opens a connection of its own holding one read view: what is committed after it is not seen.
 * `session` runs before the snapshot starts; dates come as strings (exactly as stored, UTC).
 */
export async function openSnapshotConnection(databaseUrl: string, options: { session: string[]; onError: (error: Error) => void }): Promise<SnapshotConnection> {
  const connection = mysql.createConnection({
    ...(connectionOptions(databaseUrl) as mysql.ConnectionOptions),
    timezone: 'Z',
    dateStrings: true,
    charset: 'UTF8MB4_UNICODE_CI',
    supportBigNumbers: true,
    bigNumberStrings: true,
  });
  connection.on('error', options.onError);
  const query = <T>(sql: string, values: unknown[] = []) =>
    new Promise<T>((resolve, reject) => connection.query(sql, values, (error, result) => (error ? reject(error) : resolve(result as T))));
  try {
    for (const statement of options.session) await query(statement);
    await query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
  } catch (error) {
    connection.destroy();
    throw error;
  }
  return {
    query,
    stream: (sql, values, highWaterMark) => connection.query({ sql, values, rowsAsArray: true }).stream({ highWaterMark }),
    end: async () => {
      await query('COMMIT');
      connection.end();
    },
    destroy: () => connection.destroy(),
  };
}

/** The driver's own calls on one connection. */
export interface DriverConnection {
  /** A prepared statement: binary parameters go to the server as they are (a text query would send them as hex). */
  execute(sql: string, params: unknown[]): Promise<unknown>;
  /** LOAD DATA LOCAL INFILE whose file is the stream `rows` returns. */
  loadLocalInfile(sql: string, rows: () => Readable): Promise<{ affectedRows: number }>;
}

interface Mysql2Connection {
  promise(): {
    execute(sql: string, params: unknown[]): Promise<unknown>;
    query(options: { sql: string; infileStreamFactory?: () => Readable }): Promise<[{ affectedRows: number }, unknown]>;
  };
}

async function driverOf(runner: QueryRunner): Promise<DriverConnection> {
  const connection = ((await runner.connect()) as Mysql2Connection).promise();
  return {
    execute: (sql, params) => connection.execute(sql, params),
    loadLocalInfile: async (sql, rows) => (await connection.query({ sql, infileStreamFactory: rows }))[0],
  };
}

/** The driver connection of a running transaction: its statements are part of that transaction. */
export function transactionConnection(tx: Tx): Promise<DriverConnection> {
  return driverOf(tx.manager.queryRunner!);
}

/** A connection of the pool for `work`, given back afterwards. */
export async function withDriverConnection<T>(dataSource: DataSource, work: (connection: DriverConnection) => Promise<T>): Promise<T> {
  const runner = dataSource.createQueryRunner();
  try {
    return await work(await driverOf(runner));
  } finally {
    await runner.release();
  }
}
