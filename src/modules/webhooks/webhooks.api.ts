import type { ApiModule } from '../app-module.js';
import { WebhookDeliveryResolver, WebhookEndpointResolver } from './webhooks.resolver.js';

/** What the webhooks module adds to an API process. */
export const webhooksApi: ApiModule = {
  name: 'webhooks',
  resolvers: [WebhookEndpointResolver, WebhookDeliveryResolver],
};
