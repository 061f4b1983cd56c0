/**
 * Per-subscriber buffers between the process-wide fan-out and one WebSocket subscription.
 * Pushing never waits: a subscriber whose socket drains slowly only lets its own buffer fill
 * (bounded), so it can slow neither the publishers nor the other subscribers.
 */

abstract class SubscriberStream<T> implements AsyncIterableIterator<T> {
  private waiter: ((result: IteratorResult<T>) => void) | null = null;
  private closed = false;

  constructor(private readonly onClose: () => void) {}

  protected abstract take(): T | undefined;
  protected abstract get isEmpty(): boolean;

  /** Called by subclasses after buffering a value. */
  protected wake(): void {
    if (!this.waiter || this.isEmpty) return;
    const resolve = this.waiter;
    this.waiter = null;
    resolve({ value: this.take() as T, done: false });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  next(): Promise<IteratorResult<T>> {
    if (!this.isEmpty) return Promise.resolve({ value: this.take() as T, done: false });
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  return(): Promise<IteratorResult<T>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  /** Ends the stream (client unsubscribed or the process is shutting down). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose();
    this.clear();
    const resolve = this.waiter;
    this.waiter = null;
    resolve?.({ value: undefined, done: true });
  }

  protected abstract clear(): void;

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}

/**
 * Keeps only the newest value per key (per list): a subscriber that falls behind receives the
 * latest figures of each list once, never a backlog. Memory is bounded by the number of keys.
 */
export class LatestPerKeyStream<T> extends SubscriberStream<T> {
  private readonly pending = new Map<string, T>();

  push(key: string, value: T): void {
    if (this.isClosed) return;
    // Re-inserting moves the key behind the others, so no list starves a slow reader.
    this.pending.delete(key);
    this.pending.set(key, value);
    this.wake();
  }

  protected get isEmpty(): boolean {
    return this.pending.size === 0;
  }

  protected take(): T | undefined {
    const first = this.pending.entries().next();
    if (first.done) return undefined;
    this.pending.delete(first.value[0]);
    return first.value[1];
  }

  protected clear(): void {
    this.pending.clear();
  }
}

/** A FIFO of at most `capacity` values; when full, the oldest is dropped (and counted). */
export class BoundedQueueStream<T> extends SubscriberStream<T> {
  private readonly buffer: T[] = [];
  private head = 0;
  dropped = 0;

  constructor(
    onClose: () => void,
    private readonly capacity: number,
  ) {
    super(onClose);
  }

  push(value: T): void {
    if (this.isClosed) return;
    if (this.buffer.length - this.head >= this.capacity) {
      this.head++;
      this.dropped++;
    }
    this.buffer.push(value);
    this.wake();
  }

  protected get isEmpty(): boolean {
    return this.buffer.length === this.head;
  }

  protected take(): T | undefined {
    if (this.isEmpty) return undefined;
    const value = this.buffer[this.head++];
    if (this.head > 1024 && this.head * 2 > this.buffer.length) {
      this.buffer.splice(0, this.head);
      this.head = 0;
    }
    return value;
  }

  protected clear(): void {
    this.buffer.length = 0;
    this.head = 0;
  }
}
