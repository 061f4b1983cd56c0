import { LowStockMailer } from '../alerts/low-stock-mailer.js';
import type { AppModule } from '../app-module.js';
import { WebhookDispatcher } from './webhook-dispatcher.js';
import { startWebhookWorkers } from './webhook-jobs.js';
import { WebhookKicks } from './webhook-kicks.js';
import { WebhookDeliveriesWritten, WebhookMessagesWritten } from './webhook-outbox.js';
import { WebhookRetention } from './webhook-retention.js';
import { WebhookSender } from './webhook-sender.js';

/** Signed webhooks: endpoints over GraphQL, an outbox written with each change, delivery by the workers. */
export const webhooksModule: AppModule = {
  name: 'webhooks',
  onInit(app) {
    // In whichever process committed the messages: wake the dispatcher (the sweep covers a lost wake-up).
    app.eventBus.on(WebhookMessagesWritten, () => app.get(WebhookKicks).dispatch());
    // Deliveries written with their messages (claims): wake those endpoints' senders directly.
    app.eventBus.on(WebhookDeliveriesWritten, async (event) => {
      const kicks = app.get(WebhookKicks);
      await Promise.all(event.endpointIds.map((id) => kicks.endpoint(id)));
    });
  },
  startWorkers: (app) =>
    startWebhookWorkers(app, {
      dispatcher: app.get(WebhookDispatcher),
      sender: app.get(WebhookSender),
      mailer: app.get(LowStockMailer),
      retention: app.get(WebhookRetention),
    }),
};
