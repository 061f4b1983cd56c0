import { WebhookEvent } from './webhook-event.js';

/**
 * The enabled endpoints and the event types each subscribes to, one row per pair (columns
 * `endpoint_id`, `event`). A writer embeds it in a read its transaction makes anyway, so that
 * messages nobody would get are never written (a service with no endpoints pays nothing for
 * webhooks), and a writer on the hot path can write the deliveries itself. Read in the writer's
 * transaction, it is exact: an endpoint gets every event committed after its own creation.
 */
export const SUBSCRIBERS_SQL = `SELECT e.id AS endpoint_id, subscribed.event
  FROM webhook_endpoints e, JSON_TABLE(e.events, '$[*]' COLUMNS (event VARCHAR(32) PATH '$')) subscribed
 WHERE e.enabled = 1`;

/** The endpoint ids subscribed to each event type. */
export type WebhookSubscribers = ReadonlyMap<WebhookEvent, readonly string[]>;

const KNOWN_EVENTS = new Set<string>(Object.values(WebhookEvent));

/** The subscribers SUBSCRIBERS_SQL read (anything else an endpoint row holds is ignored). */
export function webhookSubscribers(rows: Iterable<{ endpointId: unknown; event: unknown }>): WebhookSubscribers {
  const subscribers = new Map<WebhookEvent, string[]>();
  for (const { endpointId, event } of rows) {
    if (!KNOWN_EVENTS.has(String(event))) continue;
    const ids = subscribers.get(String(event) as WebhookEvent) ?? [];
    if (!ids.includes(String(endpointId))) ids.push(String(endpointId));
    subscribers.set(String(event) as WebhookEvent, ids);
  }
  return subscribers;
}
