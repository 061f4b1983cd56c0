import { WebhookEvent } from './webhook-event.js';

/**
 * The event types that some enabled endpoint subscribes to, one row each (column `event`). A
 * writer embeds it in a read its transaction makes anyway, so that messages nobody would get are
 * never written: a service with no endpoints pays nothing for webhooks. Read in the writer's
 * transaction, it is exact: an endpoint gets every event committed after its own creation.
 */
export const SUBSCRIBED_EVENTS_SQL = `SELECT DISTINCT subscribed.event
  FROM webhook_endpoints e, JSON_TABLE(e.events, '$[*]' COLUMNS (event VARCHAR(32) PATH '$')) subscribed
 WHERE e.enabled = 1`;

const KNOWN_EVENTS = new Set<string>(Object.values(WebhookEvent));

/** The event types SUBSCRIBED_EVENTS_SQL read (anything else an endpoint row holds is ignored). */
export function subscribedEvents(values: Iterable<unknown>): ReadonlySet<WebhookEvent> {
  const events = new Set<WebhookEvent>();
  for (const value of values) if (KNOWN_EVENTS.has(String(value))) events.add(String(value) as WebhookEvent);
  return events;
}
