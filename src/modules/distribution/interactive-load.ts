import type { AppContext } from '../../app-context.js';

const FLUSH_MS = 250;
const KEY_TTL_SECONDS = 10;

/**
 * How many interactive claims (claimCoupon from widgets, in any API process) are being served,
 * counted from CouponsAssigned in each process and summed per second in Redis. Bulk distribution
 * reads it to give way to interactive traffic.
 */
export class InteractiveLoad {
  private pending = 0;
  private timer: NodeJS.Timeout | null = null;
  private cached = { at: 0, perSecond: 0 };

  constructor(private readonly app: AppContext) {}

  private key(second: number): string {
    return `${this.app.config.QUEUE_PREFIX}:delivery:interactive-claims:${second}`;
  }

  /** Counts new assignments made for interactive claims; written to Redis every 250 ms. */
  record(count: number): void {
    if (count <= 0) return;
    this.pending += count;
    this.timer ??= setTimeout(() => void this.flush(), FLUSH_MS);
    this.timer.unref();
  }

  private async flush(): Promise<void> {
    this.timer = null;
    const count = this.pending;
    this.pending = 0;
    const key = this.key(Math.floor(Date.now() / 1000));
    await this.app.redis
      .multi()
      .incrby(key, count)
      .expire(key, KEY_TTL_SECONDS)
      .exec()
      .catch((error: unknown) => this.app.logger.debug({ err: error }, 'interactive load not recorded'));
  }

  /**
   * Interactive claims per second over the last whole second and the current part second (read
   * at most every 250 ms): a burst of widget traffic is noticed within about half a second.
   */
  async perSecond(): Promise<number> {
    const now = Date.now();
    if (now - this.cached.at < FLUSH_MS) return this.cached.perSecond;
    const second = Math.floor(now / 1000);
    const values = await this.app.redis.mget(this.key(second - 1), this.key(second)).catch(() => [null, null]);
    const perSecond = values.reduce((sum, value) => sum + Number(value ?? 0), 0) / (1 + (now % 1000) / 1000);
    this.cached = { at: now, perSecond };
    return perSecond;
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
