import { DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL } from '../../config/config.js';
export { findProjectRoot } from '../project-root.js';
import { ensureLocalServices, type LocalServicesLogger } from './local-services.js';

export const consoleServicesLogger: LocalServicesLogger = {
  info: (msg) => console.log(`[services] ${msg}`),
  warn: (msg) => console.error(`[services] ${msg}`),
};

/** A local server may be started only where the variable is unset or left at its default. */
const startAllowed = (value: string | undefined, defaultValue: string) => !value || value === defaultValue;

/**
 * What `npm start`, `npm test`, `npm run bench` and `npm run services:up` share: make sure MySQL
 * and Redis answer at DATABASE_URL / REDIS_URL of `env`, starting local ones only where the
 * variable is unset or at its default. Returns the URLs in effect.
 */
export async function ensureLocalServicesFor(
  env: NodeJS.ProcessEnv,
  projectRoot: string,
  logger: LocalServicesLogger = consoleServicesLogger,
): Promise<{ databaseUrl: string; redisUrl: string }> {
  const databaseUrl = env.DATABASE_URL || DEFAULT_DATABASE_URL;
  const redisUrl = env.REDIS_URL || DEFAULT_REDIS_URL;
  await ensureLocalServices({
    databaseUrl,
    redisUrl,
    startDatabaseIfMissing: startAllowed(env.DATABASE_URL, DEFAULT_DATABASE_URL),
    startRedisIfMissing: startAllowed(env.REDIS_URL, DEFAULT_REDIS_URL),
    projectRoot,
    logger,
  });
  return { databaseUrl, redisUrl };
}
