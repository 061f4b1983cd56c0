import { gql } from '../api/graphql';

export const WEBHOOK_EVENTS = [
  'COUPON_ASSIGNED',
  'COUPON_REDEEMED',
  'LIST_LOW_STOCK',
  'LIST_EXHAUSTED',
  'LIST_EXPIRED',
  'LIST_REPLENISHED',
  'CAMPAIGN_FINISHED',
  'CODE_UPLOAD_COMPLETED',
  'CODE_UPLOAD_FAILED',
  'EXPORT_COMPLETED',
] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

export interface WebhookEndpoint {
  id: string;
  url: string;
  events: WebhookEvent[];
  description: string | null;
  enabled: boolean;
  disabledReason: string | null;
  createdAt: string;
}

export interface WebhookDelivery {
  id: string;
  messageId: string;
  event: WebhookEvent;
  status: 'PENDING' | 'DELIVERED' | 'FAILED';
  attempts: number;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: string;
  deliveredAt: string | null;
  nextAttemptAt: string | null;
}

const ENDPOINT = 'id url events description enabled disabledReason createdAt';
const DELIVERY = 'id messageId event status attempts lastStatusCode lastError createdAt deliveredAt nextAttemptAt';

export const EndpointsQuery = gql<{ webhookEndpoints: WebhookEndpoint[] }>(`query WebhookEndpoints { webhookEndpoints { ${ENDPOINT} } }`);

export const DeliveriesQuery = gql<{ webhookDeliveries: { items: WebhookDelivery[]; nextCursor: string | null } }, { endpointId: string; after: string | null }>(
  `query WebhookDeliveries($endpointId: ID!, $after: String) { webhookDeliveries(endpointId: $endpointId, first: 25, after: $after) { items { ${DELIVERY} } nextCursor } }`,
);

export const CreateEndpoint = gql<
  { createWebhookEndpoint: { endpoint: WebhookEndpoint; secret: string } },
  { input: { url: string; events: WebhookEvent[]; description: string | null } }
>(`mutation CreateWebhookEndpoint($input: WebhookEndpointInput!) { createWebhookEndpoint(input: $input) { secret endpoint { ${ENDPOINT} } } }`);

export const UpdateEndpoint = gql<{ updateWebhookEndpoint: WebhookEndpoint }, { id: string; input: { enabled?: boolean; events?: WebhookEvent[]; url?: string; description?: string | null } }>(
  `mutation UpdateWebhookEndpoint($id: ID!, $input: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(id: $id, input: $input) { ${ENDPOINT} } }`,
);

export const DeleteEndpoint = gql<{ deleteWebhookEndpoint: boolean }, { id: string }>(`mutation DeleteWebhookEndpoint($id: ID!) { deleteWebhookEndpoint(id: $id) }`);

export const RotateSecret = gql<{ rotateWebhookSecret: { endpoint: WebhookEndpoint; secret: string } }, { id: string }>(
  `mutation RotateWebhookSecret($id: ID!) { rotateWebhookSecret(id: $id) { secret endpoint { ${ENDPOINT} } } }`,
);

export const Redeliver = gql<{ redeliverWebhook: WebhookDelivery }, { deliveryId: string }>(
  `mutation RedeliverWebhook($deliveryId: ID!) { redeliverWebhook(deliveryId: $deliveryId) { ${DELIVERY} } }`,
);
