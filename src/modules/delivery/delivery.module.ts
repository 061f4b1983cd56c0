import type { AppModule } from '../app-module.js';
import { CouponsAssigned } from '../claims/claim.events.js';
import { startDeliveryWorkers } from './delivery.jobs.js';
import { DeliverySender } from './delivery-sender.js';
import { DeliveryServices } from './delivery-services.js';
import { Delivery } from './delivery.entity.js';
import { ListDeliverySettings } from './list-delivery-settings.entity.js';
import { TransactionalMessage } from './transactional-message.entity.js';
import { UserProfile } from './user-profile.entity.js';

export const deliveryModule: AppModule = {
  name: 'delivery',
  entities: [TransactionalMessage, ListDeliverySettings, UserProfile, Delivery],
  onInit(app) {
    const { deliveries } = app.get(DeliveryServices);
    // In whichever process claimed: after COMMIT, never inside or before the claim's answer.
    app.eventBus.on(CouponsAssigned, (event) => deliveries.onCouponsAssigned(event.assignments));
  },
  async startWorkers(app) {
    const { deliveries } = app.get(DeliveryServices);
    const sender = new DeliverySender(app);
    app.onShutdown(() => sender.close());
    await startDeliveryWorkers(app, {
      sendBatch: (job) => sender.processBatch(job),
      send: (job, token) => sender.process(job, token),
      sweep: () => deliveries.sweep(),
    });
  },
};
