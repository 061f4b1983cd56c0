import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type LocalServicesLogger, ensureLocalServices, localServicesStatus, stopLocalServices } from './local-services.js';

const DEFAULT_DATABASE_URL = 'mysql://root@127.0.0.1:3306/coupons';
const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

const logger: LocalServicesLogger = {
  info: (msg) => console.log(`[services] ${msg}`),
  warn: (msg) => console.error(`[services] ${msg}`),
};

/** The folder with package.json above this file (works from src/ and from dist/src/). */
function findProjectRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`No package.json above ${from}`);
  }
}

/** A local server may be started only where the variable is unset or left at its default. */
function startAllowed(value: string | undefined, defaultValue: string): boolean {
  return value === undefined || value === '' || value === defaultValue;
}

async function main(command: string | undefined): Promise<void> {
  const projectRoot = findProjectRoot(__dirname);
  switch (command) {
    case 'up':
      await ensureLocalServices({
        databaseUrl: process.env.DATABASE_URL || DEFAULT_DATABASE_URL,
        redisUrl: process.env.REDIS_URL || DEFAULT_REDIS_URL,
        startDatabaseIfMissing: startAllowed(process.env.DATABASE_URL, DEFAULT_DATABASE_URL),
        startRedisIfMissing: startAllowed(process.env.REDIS_URL, DEFAULT_REDIS_URL),
        projectRoot,
        logger,
      });
      return;
    case 'down':
      await stopLocalServices(projectRoot, logger);
      return;
    case 'status':
      console.log(await localServicesStatus(projectRoot));
      return;
    default:
      throw new Error('Usage: node dist/src/infra/local-services/cli.js up|down|status');
  }
}

main(process.argv[2]).catch((err: unknown) => {
  logger.warn(err instanceof Error ? err.message : String(err));
  process.exitCode = 1;
});
