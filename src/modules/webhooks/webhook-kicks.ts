import type { Queue } from 'bullmq';
import type { AppContext } from '../../app-context.js';
import type { Logger } from '../../infra/logging/logger.js';
import { dispatchJobOptions, sendJobOptions, WEBHOOK_DISPATCH_QUEUE, WEBHOOK_SEND_QUEUE } from './webhook-jobs.js';

/**
 * Wakes the webhook workers after a commit. Kicks are coalesced per process: while one is being
 * enqueued, further kicks for the same target become one more enqueue after it. A lost kick only
 * delays: the sweep finds the rows (the row is the truth).
 */
export class WebhookKicks {
  private readonly dispatchQueue: Queue;
  private readonly sendQueue: Queue;
  private readonly logger: Logger;
  /** Targets being enqueued; true when another kick came meanwhile. */
  private readonly inFlight = new Map<string, boolean>();

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

  private async kick(target: string, enqueue: () => Promise<unknown>): Promise<void> {
    if (this.inFlight.has(target)) {
      this.inFlight.set(target, true);
      return;
    }
    this.inFlight.set(target, false);
    try {
      do {
        this.inFlight.set(target, false);
        await enqueue();
      } while (this.inFlight.get(target));
    } catch (error) {
      this.logger.warn({ err: error, target }, 'webhook kick not enqueued; the sweep will pick the rows up');
    } finally {
      this.inFlight.delete(target);
    }
  }
}
