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

/** The subscribed event types from rows of SUBSCRIBED_EVENTS_SQL (or any rows with the type in `column`). */
export function subscribedEvents<Row>(rows: readonly Row[], column: (row: Row) => unknown): ReadonlySet<WebhookEvent> {
  const known = new Set<string>(Object.values(WebhookEvent));
  const events = new Set<WebhookEvent>();
  for (const row of rows) {
    const event = String(column(row));
    if (known.has(event)) events.add(event as WebhookEvent);
  }
  return events;
}
