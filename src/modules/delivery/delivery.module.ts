import type { AppModule } from '../app-module.js';
import { CouponsAssigned } from '../claims/claim.events.js';
import { MAINTENANCE_QUEUE, SEND_BATCH_QUEUE, SEND_QUEUE } from './delivery-jobs.js';
import { DeliverySender, type SendBatchJobData, type SendJobData } from './delivery-sender.js';
import { Delivery } from './delivery.entity.js';
import { DeliveryService } from './delivery.service.js';
import { DistributionJob } from './distribution-job.entity.js';
import { DISTRIBUTION_QUEUE, DistributionService } from './distribution.service.js';
import { InteractiveLoad } from './interactive-load.js';
import { ListDeliverySettings } from './list-delivery-settings.entity.js';
import { TransactionalMessage } from './transactional-message.entity.js';
import { UserProfile } from './user-profile.entity.js';

export const deliveryModule: AppModule = {
  name: 'delivery',
  entities: [TransactionalMessage, ListDeliverySettings, UserProfile, Delivery, DistributionJob],
  onInit(app) {
    app.onShutdown(() => app.get(InteractiveLoad).stop());
    // In whichever process claimed: after COMMIT, never inside or before the claim's answer.
    app.eventBus.on(CouponsAssigned, (event) => app.get(DeliveryService).onCouponsAssigned(event.assignments));
  },
  async startWorkers(app) {
    const sender = new DeliverySender(app);
    app.onShutdown(() => sender.close());
    // Sends wait on the gateway, not on this process: many at once (DELIVERY_CONCURRENCY requests in batches, as many retries).
    app.queues.worker<SendBatchJobData>(SEND_BATCH_QUEUE, (job) => sender.processBatch(job), { concurrency: 8 });
    app.queues.worker<SendJobData>(SEND_QUEUE, (job, token) => sender.process(job, token), { concurrency: app.config.DELIVERY_CONCURRENCY });
    app.queues.worker<{ distributionId: string }>(DISTRIBUTION_QUEUE, (job) => app.get(DistributionService).run(job), {
      concurrency: 4,
      // A worker that dies mid-distribution leaves a stalled job; another worker resumes it.
      maxStalledCount: 10,
    });
    app.queues.worker(
      MAINTENANCE_QUEUE,
      async () => {
        const sends = await app.get(DeliveryService).sweep();
        const distributions = await app.get(DistributionService).requeueLost();
        return { ...sends, distributions };
      },
      { concurrency: 1 },
    );
    await app.queues
      .queue(MAINTENANCE_QUEUE)
      .upsertJobScheduler('delivery-sweep', { every: app.config.DELIVERY_SWEEP_INTERVAL_SECONDS * 1000 }, {
        name: 'sweep',
        opts: { removeOnComplete: true, removeOnFail: { count: 100 } },
      });
  },
};
