import Module from 'node:module';
import { join } from 'node:path';

/**
 * Jest runs this file outside its module registry, so its moduleNameMapper does not apply:
 * map the sources' nodenext-style "./x.js" imports to "./x" here as it does for tests.
 */
const moduleInternals = Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
const resolveFilename = moduleInternals._resolveFilename;
moduleInternals._resolveFilename = function (request: string, ...rest: unknown[]) {
  if (request.startsWith('.') && request.endsWith('.js')) {
    try {
      return resolveFilename.call(this, request.slice(0, -3), ...rest);
    } catch {
      // fall through to the request as written
    }
  }
  return resolveFilename.call(this, request, ...rest);
};

/**
 * Tests talk to real MariaDB/MySQL and Redis. Where DATABASE_URL / REDIS_URL are left at their
 * defaults and nothing answers, the local servers are started exactly as `npm start` does.
 */
export default async function globalSetup(): Promise<void> {
  const { ensureLocalServicesFor } = require('../../src/infra/local-services/from-environment.js') as typeof import('../../src/infra/local-services/from-environment');
  const { databaseUrl, redisUrl } = await ensureLocalServicesFor(process.env, join(__dirname, '..', '..'));
  process.env.DATABASE_URL = databaseUrl;
  process.env.REDIS_URL = redisUrl;
  const { LocalCluster } = require('../../src/infra/local-services/cluster.js') as typeof import('../../src/infra/local-services/cluster');
  const { stateDirOf } = require('../../src/infra/local-services/servers.js') as typeof import('../../src/infra/local-services/servers');
  process.env.COUPONS_CLUSTER_RAN_BEFORE = String(new LocalCluster(stateDirOf(join(__dirname, '..', '..')), { info: () => undefined, warn: () => undefined }).isRunning());
}

