import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import type { DestinationStream } from 'pino';
import { startApp, type RunningApp } from '../../src/app';
import type { AppContext } from '../../src/app-context';
import { loadConfig } from '../../src/config/config';
import { parseDatabaseUrl, withDatabaseName } from '../../src/config/database-url';
import { createLogger } from '../../src/infra/logging/logger';
import { postGraphQL, type GraphQLResponse } from './graphql-client';

export const TEST_ADMIN_KEY = 'test-admin-key-0123456789abcdef';

export interface TestApp {
  app: AppContext;
  baseUrl: string;
  databaseUrl: string;
  queuePrefix: string;
  /** Runs an operation with the admin key unless another key (or null for none) is given. */
  gql<T = any>(query: string, variables?: Record<string, unknown>, key?: string | null): Promise<GraphQLResponse<T>>;
  /** Creates an API key with the role (and campaign scopes) and returns its secret. */
  createKey(role: 'ADMIN' | 'CLIENT' | 'VIEWER', campaignIds?: string[]): Promise<string>;
  stop(): Promise<void>;
  /** Stops the app and drops its database. */
  destroy(): Promise<void>;
}

export interface TestAppOptions {
  env?: Record<string, string>;
  /** Reuse the database / queue prefix of another test app (a second process of one deployment). */
  shareWith?: { databaseUrl: string; queuePrefix: string };
  /** Where the app's log lines go (default: stdout). */
  logDestination?: DestinationStream;
}

/** Starts the whole service in this process on a free port, with its own database and queue prefix. */
export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const suffix = randomBytes(4).toString('hex');
  const databaseUrl = options.shareWith?.databaseUrl ?? withDatabaseName(process.env.DATABASE_URL!, `coupons_test_${process.env.JEST_WORKER_ID ?? 0}_${suffix}`);
  const queuePrefix = options.shareWith?.queuePrefix ?? `test-${suffix}`;
  const config = loadConfig({
    ...process.env,
    NODE_ENV: 'test',
    PORT: '0',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    ADMIN_API_KEY: TEST_ADMIN_KEY,
    DATABASE_URL: databaseUrl,
    QUEUE_PREFIX: queuePrefix,
    DB_POOL_SIZE: '10',
    ...options.env,
  });
  const running: RunningApp = await startApp(config, createLogger(config.LOG_LEVEL, { test: expect.getState().testPath }, options.logDestination));
  const baseUrl = running.port === null ? '' : `http://127.0.0.1:${running.port}`;
  const gql = <T = any>(query: string, variables: Record<string, unknown> = {}, key: string | null = TEST_ADMIN_KEY) =>
    postGraphQL<T>(baseUrl, query, variables, key);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await running.stop();
  };
  return {
    app: running.app,
    baseUrl,
    databaseUrl,
    queuePrefix,
    gql,
    async createKey(role, campaignIds) {
      const result = await gql(
        `mutation($name: String!, $role: ApiKeyRole!, $campaignIds: [ID!]) { createApiKey(name: $name, role: $role, campaignIds: $campaignIds) { secret } }`,
        { name: `${role} key`, role, campaignIds: campaignIds ?? null },
      );
      if (!result.data) throw new Error(JSON.stringify(result.errors));
      return result.data.createApiKey.secret as string;
    },
    stop,
    async destroy() {
      await stop();
      if (!options.shareWith) await dropDatabase(databaseUrl);
    },
  };
}

export async function dropDatabase(databaseUrl: string): Promise<void> {
  const { database, ...server } = parseDatabaseUrl(databaseUrl);
  const connection = await mysql.createConnection(server);
  try {
    await connection.query(`DROP DATABASE IF EXISTS \`${database}\``);
  } finally {
    await connection.end();
  }
}
