import type { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import type { AppConfig } from './config/config.js';
import type { EventBus } from './infra/events/event-bus.js';
import type { Metrics } from './infra/http/metrics.js';
import type { Logger } from './infra/logging/logger.js';
import type { AppPubSub } from './infra/pubsub/pubsub.js';
import type { QueueRegistry } from './infra/queue/queue-registry.js';
import { withTransaction, type TransactionOptions, type Tx } from './infra/db/transaction.js';

type ServiceClass<T> = new (app: AppContext) => T;

/**
 * Everything one process shares: configuration, connections, queues, buses, and the services
 * built on them. Services are created on first use with `app.get(Service)`; each takes the
 * context in its constructor and asks it for what it needs.
 */
export class AppContext {
  private readonly services = new Map<Function, unknown>();
  private readonly shutdownHooks: Array<() => Promise<void> | void> = [];

  constructor(
    readonly config: AppConfig,
    readonly logger: Logger,
    readonly dataSource: DataSource,
    /** Commands (rate limits, caches, locks). */
    readonly redis: Redis,
    readonly pubSub: AppPubSub,
    readonly eventBus: EventBus,
    readonly queues: QueueRegistry,
    readonly metrics: Metrics,
  ) {}

  get runsApi(): boolean {
    return this.config.ROLE === 'api' || this.config.ROLE === 'all';
  }

  get runsWorkers(): boolean {
    return this.config.ROLE === 'worker' || this.config.ROLE === 'all';
  }

  get<T>(service: ServiceClass<T>): T {
    let instance = this.services.get(service) as T | undefined;
    if (!instance) {
      instance = new service(this);
      this.services.set(service, instance);
    }
    return instance;
  }

  transaction<T>(work: (tx: Tx) => Promise<T>, options?: TransactionOptions): Promise<T> {
    return withTransaction(this, work, options);
  }

  /** Registers cleanup that runs on shutdown, before connections close (latest first). */
  onShutdown(hook: () => Promise<void> | void): void {
    this.shutdownHooks.unshift(hook);
  }

  async runShutdownHooks(): Promise<void> {
    for (const hook of this.shutdownHooks) {
      await Promise.resolve()
        .then(hook)
        .catch((error: unknown) => this.logger.warn({ err: error }, 'shutdown hook failed'));
    }
  }
}
