import { v7 as uuidv7 } from 'uuid';
import type { Tx } from '../../infra/db/transaction.js';
import { DomainEvent } from '../../infra/events/event-bus.js';
import type { WebhookEvent } from './webhook-event.js';
import type { WebhookSubscribers } from './webhook-subscriptions.js';

/** One message for the outbox: the event and the `data` a receiver gets. */
export interface WebhookMessage {
  event: WebhookEvent;
  data: Record<string, unknown>;
  /** When it happened (the body's `timestamp`); default: now. */
  at?: Date;
}

/** Outbox rows were committed: the webhooks module starts dispatching them (the sweep covers a lost signal). */
export class WebhookMessagesWritten extends DomainEvent {
  constructor(readonly count: number) {
    super();
  }
}

/** Delivery rows were committed for these endpoints: their senders are woken (the sweep covers a lost signal). */
export class WebhookDeliveriesWritten extends DomainEvent {
  constructor(readonly endpointIds: readonly string[]) {
    super();
  }
}

/** Rows of webhook_messages (message_id, event_type, payload, occurred_at): dates in `data` become ISO strings (Date.prototype.toJSON). */
function messageRows(messages: WebhookMessage[]): unknown[][] {
  const now = new Date();
  return messages.map((message) => [uuidv7(), message.event, JSON.stringify(message.data), message.at ?? now]);
}

/**
 * Writes webhook messages inside the caller's transaction, in one multi-row insert: they exist
 * exactly when the change they describe was committed, so a crash between COMMIT and sending
 * loses nothing. Which endpoints get them is decided when they are dispatched.
 */
export async function writeWebhookMessages(tx: Tx, messages: WebhookMessage[]): Promise<void> {
  if (messages.length === 0) return;
  await tx.query('INSERT INTO webhook_messages (message_id, event_type, payload, occurred_at) VALUES ?', [messageRows(messages)]);
  tx.publish(new WebhookMessagesWritten(messages.length));
}

/**
 * For a writer on the hot path that read the subscribers in its transaction (SUBSCRIBERS_SQL):
 * writes the messages already dispatched, with one delivery row per subscribed endpoint, in two
 * multi-row inserts inside the caller's transaction, and wakes those endpoints' senders after
 * COMMIT. The dispatcher has nothing to do for them; the delivery rows are the truth the sweep
 * reads, as for dispatched messages.
 */
export async function writeWebhookDeliveries(tx: Tx, subscribers: WebhookSubscribers, messages: WebhookMessage[]): Promise<void> {
  const wanted = messages.filter((message) => (subscribers.get(message.event)?.length ?? 0) > 0);
  if (wanted.length === 0) return;
  const now = new Date();
  const rows = messageRows(wanted).map((row) => [...row, 1]);
  await tx.query('INSERT INTO webhook_messages (message_id, event_type, payload, occurred_at, dispatched) VALUES ?', [rows]);
  const events = new Set(wanted.map((message) => message.event));
  const pairs = [...subscribers].filter(([event]) => events.has(event)).flatMap(([event, ids]) => ids.map((id) => [id, event]));
  // The message rows' ids come from AUTO_INCREMENT: found again by message_id (read committed: a consistent read, no locks).
  await tx.query(
    `INSERT INTO webhook_deliveries (endpoint_id, message_row_id, created_at, next_attempt_at)
     SELECT s.endpoint_id, m.id, ?, ? FROM webhook_messages m
       JOIN (${pairs.map(() => 'SELECT ? AS endpoint_id, ? AS event_type').join(' UNION ALL ')}) s ON s.event_type = m.event_type
      WHERE m.message_id IN (?)`,
    [now, now, ...pairs.flat(), rows.map((row) => row[0])],
  );
  tx.publish(new WebhookDeliveriesWritten([...new Set(pairs.map(([id]) => id))]));
}
