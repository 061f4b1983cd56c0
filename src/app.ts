import 'reflect-metadata';
import { AppContext } from './app-context.js';
import type { AppConfig } from './config/config.js';
import { DatabaseHosts } from './infra/db/database-hosts.js';
import { createDataSource, ensureDatabaseExists, openDataSource } from './infra/db/data-source.js';
import { runMigrations } from './infra/db/migrate.js';
import { EventBus } from './infra/events/event-bus.js';
import type { ApiServer } from './api/server.js';
import { Metrics } from './infra/http/metrics.js';
import { createLogger, type Logger } from './infra/logging/logger.js';
import { createAppPubSub } from './infra/pubsub/pubsub.js';
import { QueueRegistry } from './infra/queue/queue-registry.js';
import { createRedis } from './infra/redis/redis.js';
import { appModules } from './modules/index.js';

export interface RunningApp {
  app: AppContext;
  /** The bound HTTP port, when this process runs the API. */
  port: number | null;
  /** Graceful shutdown: stop accepting, finish requests and jobs, close sockets, queues and pools. */
  stop(): Promise<void>;
}

/**
 * Starts one process of the service: database (created and migrated first), Redis, the modules,
 * and depending on ROLE the API server and/or the job workers.
 */
export async function startApp(config: AppConfig, logger: Logger = createLogger(config.LOG_LEVEL, { role: config.ROLE })): Promise<RunningApp> {
  // With several database hosts: the first ready one, checked every second from now on.
  const databaseHosts = DatabaseHosts.for(config.DATABASE_URL);
  await databaseHosts.start(logger);
  await ensureDatabaseExists(config.DATABASE_URL);
  const dataSource = createDataSource({
    databaseUrl: config.DATABASE_URL,
    poolSize: config.DB_POOL_SIZE,
    entities: appModules.flatMap((module) => module.entities ?? []),
  });
  await openDataSource(dataSource, config.DATABASE_URL);
  await runMigrations(dataSource, logger);

  const redis = createRedis(config.REDIS_URL, logger, 'commands');
  const publishRedis = createRedis(config.REDIS_URL, logger, 'publish');
  // No ready check (INFO) on the subscriber: a SUBSCRIBE sent while ioredis is still connecting
  // puts the connection in subscriber mode, the INFO then fails and the subscription is lost.
  const subscribeRedis = createRedis(config.REDIS_URL, logger, 'subscribe', { enableReadyCheck: false });
  const bullRedis = createRedis(config.REDIS_URL, logger, 'bullmq', { maxRetriesPerRequest: null });
  const queues = new QueueRegistry(bullRedis, config.QUEUE_PREFIX, logger);
  const app = new AppContext(
    config,
    logger,
    dataSource,
    redis,
    createAppPubSub(publishRedis, subscribeRedis, config.QUEUE_PREFIX, logger),
    new EventBus(logger),
    queues,
    new Metrics(() => queues.depths()),
  );

  for (const module of appModules) await module.onInit?.(app);
  if (app.runsWorkers) {
    for (const module of appModules) await module.startWorkers?.(app);
    logger.info('job workers started');
  }

  let server: ApiServer | null = null;
  let port: number | null = null;
  if (app.runsApi) {
    // Required here, not imported at the top: a worker process never loads the API's libraries.
    const { startApiServer } = require('./api/start-api-server.js') as typeof import('./api/start-api-server.js');
    ({ server, port } = await startApiServer(app));
    const shown = config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST;
    const origin = `http://${shown}:${port}`;
    logger.info({ host: config.HOST, port, graphql: `${origin}/graphql`, console: `${origin}/console/` }, `API listening on ${origin}/graphql; admin console at ${origin}/console/`);
  }

  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      logger.info('shutting down');
      await server?.stop();
      logger.debug('API server stopped');
      await queues.closeWorkers();
      logger.debug('workers stopped');
      // After-commit work of the last requests and jobs (delivery enqueues, live updates) still needs Redis and MySQL.
      await app.eventBus.idle();
      await app.runShutdownHooks();
      await queues.close();
      logger.debug('queues closed');
      // disconnect() after quit(): with Sentinels it also closes the failover detector's sentinel connections.
      await Promise.all(
        [redis, publishRedis, subscribeRedis, bullRedis].map((connection) =>
          connection
            .quit()
            .catch(() => undefined)
            .finally(() => connection.disconnect()),
        ),
      );
      await dataSource.destroy();
      databaseHosts.release();
      logger.info('shut down');
    })());

  return { app, port, stop };
}
