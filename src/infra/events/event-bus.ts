import type { Logger } from '../logging/logger.js';

/** Something that happened in the domain; published only after its transaction has committed. */
export abstract class DomainEvent {
  readonly occurredAt = new Date();
}

type EventClass<E extends DomainEvent> = abstract new (...args: never[]) => E;
type Handler<E> = (event: E) => void | Promise<void>;

/**
 * In-process event bus. Modules react to each other's events here (realtime forwards them to
 * Redis pub/sub, alerts check stock, delivery enqueues sends) without the publisher knowing them.
 * Handlers run after the publisher has moved on; a failing handler is logged, never rethrown.
 */
export class EventBus {
  private readonly handlers = new Map<Function, Handler<DomainEvent>[]>();
  /** Handlers still running: shutdown waits for them before it closes queues and pools. */
  private readonly running = new Set<Promise<void>>();

  constructor(private readonly logger: Logger) {}

  on<E extends DomainEvent>(type: EventClass<E>, handler: Handler<E>): () => void {
    const list = this.handlers.get(type) ?? [];
    list.push(handler as Handler<DomainEvent>);
    this.handlers.set(type, list);
    return () => {
      const current = this.handlers.get(type) ?? [];
      this.handlers.set(type, current.filter((h) => h !== handler));
    };
  }

  publish(event: DomainEvent): void {
    const list = this.handlers.get(event.constructor) ?? [];
    for (const handler of list) {
      this.track(
        Promise.resolve()
          .then(() => handler(event))
          .catch((error: unknown) => this.logger.error({ err: error, event: event.constructor.name }, 'event handler failed')),
      );
    }
  }

  /** Counts `work` as running until it settles (after-commit hooks use this too). */
  track(work: Promise<void>): void {
    this.running.add(work);
    void work.finally(() => this.running.delete(work));
  }

  /** Resolves once no handler runs any more, including those started by handlers meanwhile. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }
}
