import 'reflect-metadata';
import { setFlagsFromString } from 'node:v8';
import { ConfigError, loadConfig } from './config/config.js';
import { createLogger } from './infra/logging/logger.js';
import { startApp } from './app.js';

/** `npm start`: validate configuration, bring up local MariaDB/Redis if needed, run the service. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
  const logger = createLogger(config.LOG_LEVEL, { role: config.ROLE });
  // With a thousand requests in flight, much of what they allocate outlives the young generation
  // (32 MiB semi-spaces, set by `npm start`: they cannot be changed once V8 runs) and dies in the
  // old one, which V8 lets grow to up to 4x its live size before a full collection. Capped at
  // 2.5x, the flash sale's process peaks at 303-310 MiB instead of 351-415 (docs/claims.md).
  // V8 reads this factor at every full collection, so setting it once the process runs takes effect.
  if (config.HEAP_GROWING_PERCENT > 0) setFlagsFromString(`--heap-growing-percent=${config.HEAP_GROWING_PERCENT}`);

  // Local MariaDB/Redis are a convenience for a laptop or CI: only where a URL was left at its
  // default, and never in production, where that code is not even loaded.
  if (config.NODE_ENV !== 'production' && (config.databaseUrlIsDefault || config.redisUrlIsDefault)) {
    const { ensureLocalServicesFor, findProjectRoot } = await import('./infra/local-services/from-environment.js');
    await ensureLocalServicesFor(process.env, findProjectRoot(__dirname), {
      info: (msg) => logger.info(msg),
      warn: (msg) => logger.warn(msg),
    });
  }

  const running = await startApp(config, logger);

  let signalled = false;
  const shutdown = (signal: string) => {
    if (signalled) return;
    signalled = true;
    logger.info({ signal }, 'signal received');
    const timer = setTimeout(() => {
      logger.error(`shutdown took longer than ${config.SHUTDOWN_TIMEOUT_SECONDS} s; exiting`);
      process.exit(1);
    }, config.SHUTDOWN_TIMEOUT_SECONDS * 1000);
    timer.unref();
    running.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  // A stray rejected promise is a bug to log, not a reason to drop every in-flight claim.
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled promise rejection'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
