import type { AppModule } from '../app-module.js';
import { CouponListEdited } from '../lists/coupon-list.events.js';
import { EXPIRY_QUEUE, EXPIRY_SWEEP_QUEUE, ListExpiryService, type ExpireListJob } from './list-expiry.service.js';

/** Timed expiry of coupon lists: delayed jobs, a periodic sweep and a check at worker start-up. */
export const expiryModule: AppModule = {
  name: 'expiry',
  onInit(app) {
    const expiry = app.get(ListExpiryService);
    app.eventBus.on(CouponListEdited, async (event) => {
      const expiresAtChanged = event.changed.includes('expiresAt');
      if (!(event.created && event.list.expiresAt) && !expiresAtChanged) return;
      await expiry.reschedule(event.list.id, event.list.expiresAt, event.previous.expiresAt, event.created);
    });
  },
  async startWorkers(app) {
    const expiry = app.get(ListExpiryService);
    app.queues.worker<ExpireListJob>(EXPIRY_QUEUE, (job) => expiry.expire(job.data.listId), { concurrency: 4 });
    app.queues.worker(EXPIRY_SWEEP_QUEUE, () => expiry.sweep());
    await app.queues
      .queue(EXPIRY_SWEEP_QUEUE)
      .upsertJobScheduler('expiry-sweep', { every: app.config.EXPIRY_SWEEP_SECONDS * 1000 }, { name: 'sweep', opts: { removeOnComplete: true, removeOnFail: 100 } });
    // Expiries that passed while no worker ran, and jobs for every expiry still to come.
    await expiry.sweep({ scheduleFuture: true }).catch((error: unknown) => app.logger.warn({ err: error }, 'expiry check at start-up failed'));
  },
};
