import { WebhookEvent } from '../../src/modules/webhooks/webhook-event';
import type { TestApp } from '../helpers/test-app';

export const ENDPOINT_FIELDS = 'id url events description enabled disabledReason failingSince createdAt';
export const DELIVERY_FIELDS = 'id messageId event status attempts lastStatusCode lastError createdAt deliveredAt nextAttemptAt attemptLog { attempt statusCode error }';

/** Every event type an endpoint can subscribe to, as the server declares them. */
export const ALL_EVENTS = Object.values(WebhookEvent);

export async function createEndpoint(t: TestApp, input: Record<string, unknown>): Promise<{ id: string; secret: string }> {
  const response = await t.gql(`mutation($input: WebhookEndpointInput!) { createWebhookEndpoint(input: $input) { secret endpoint { id } } }`, { input });
  if (!response.data) throw new Error(JSON.stringify(response.errors));
  return { id: response.data.createWebhookEndpoint.endpoint.id, secret: response.data.createWebhookEndpoint.secret };
}

export async function deliveries(t: TestApp, endpointId: string, first = 200): Promise<any[]> {
  const response = await t.gql(`query($id: ID!, $first: Int) { webhookDeliveries(endpointId: $id, first: $first) { items { ${DELIVERY_FIELDS} } nextCursor } }`, {
    id: endpointId,
    first,
  });
  if (!response.data) throw new Error(JSON.stringify(response.errors));
  return response.data.webhookDeliveries.items;
}

/** Polls an endpoint's deliveries until there are `count` and `done` holds for them. */
export async function waitForDeliveries(t: TestApp, endpointId: string, count: number, done: (items: any[]) => boolean, timeoutMs = 60_000): Promise<any[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const items = await deliveries(t, endpointId);
    if (items.length >= count && done(items)) return items;
    if (Date.now() > deadline) throw new Error(`deliveries not done: ${JSON.stringify(items)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
