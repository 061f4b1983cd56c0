import type { AppModule } from '../app-module.js';
import { startWebhookWorkers } from './webhook-jobs.js';
import { WebhookKicks } from './webhook-kicks.js';
import { WebhookMessagesWritten } from './webhook-outbox.js';

/** Signed webhooks: endpoints over GraphQL, an outbox written with each change, delivery by the workers. */
export const webhooksModule: AppModule = {
  name: 'webhooks',
  onInit(app) {
    // In whichever process committed the messages: wake the dispatcher (the sweep covers a lost wake-up).
    app.eventBus.on(WebhookMessagesWritten, () => app.get(WebhookKicks).dispatch());
  },
  startWorkers: (app) => startWebhookWorkers(app),
};
