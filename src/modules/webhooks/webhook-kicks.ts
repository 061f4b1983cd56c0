import type { Queue } from 'bullmq';
import type { AppContext } from '../../app-context.js';
import type { Logger } from '../../infra/logging/logger.js';
import { dispatchJobOptions, sendJobOptions, WEBHOOK_DISPATCH_QUEUE, WEBHOOK_SEND_QUEUE } from './webhook-jobs.js';

/** Kicks within this window after the first become one enqueue (a busy API commits thousands of messages a second). */
const KICK_WINDOW_MS = 20;

/**
 * Wakes the webhook workers after a commit. Kicks are coalesced per process and target: the
 * first opens a short window, and every kick until the enqueue has run is covered by it. A lost
 * kick only delays: the sweep finds the rows (the row is the truth).
 */
export class WebhookKicks {
  private readonly dispatchQueue: Queue;
  private readonly sendQueue: Queue;
  private readonly logger: Logger;
  /** Targets with an enqueue scheduled or running; true when a kick came after the enqueue started. */
  private readonly pending = new Map<string, { started: boolean; again: boolean }>();

  constructor(app: AppContext) {
    this.dispatchQueue = app.queues.queue(WEBHOOK_DISPATCH_QUEUE);
    this.sendQueue = app.queues.queue(WEBHOOK_SEND_QUEUE);
    this.logger = app.logger;
  }

  dispatch(): Promise<void> {
    return this.kick('dispatch', () => this.dispatchQueue.add('dispatch', {}, dispatchJobOptions));
  }

  endpoint(endpointId: string): Promise<void> {
    return this.kick(`endpoint-${endpointId}`, () => this.sendQueue.add('send', { endpointId }, sendJobOptions(endpointId)));
  }

  private kick(target: string, enqueue: () => Promise<unknown>): Promise<void> {
    const current = this.pending.get(target);
    if (current) {
      // Rows committed after the enqueue started may miss that job's reads: one more enqueue follows.
      if (current.started) current.again = true;
      return Promise.resolve();
    }
    const state = { started: false, again: false };
    this.pending.set(target, state);
    return new Promise<void>((resolve) => {
      setTimeout(async () => {
        try {
          do {
            state.started = true;
            state.again = false;
            await enqueue();
          } while (state.again);
        } catch (error) {
          this.logger.warn({ err: error, target }, 'webhook kick not enqueued; the sweep will pick the rows up');
        } finally {
          this.pending.delete(target);
          resolve();
        }
      }, KICK_WINDOW_MS);
    });
  }
}
