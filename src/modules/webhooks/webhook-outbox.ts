import { v7 as uuidv7 } from 'uuid';
import type { Tx } from '../../infra/db/transaction.js';
import { DomainEvent } from '../../infra/events/event-bus.js';
import type { WebhookEvent } from './webhook-event.js';

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

/** JSON-friendly data: dates become ISO strings, ids stay strings. */
function jsonData(data: Record<string, unknown>): string {
  return JSON.stringify(data, (_key, value: unknown) => (value instanceof Date ? value.toISOString() : value));
}

/**
 * Writes webhook messages inside the caller's transaction, in one multi-row insert: they exist
 * exactly when the change they describe was committed, so a crash between COMMIT and sending
 * loses nothing. Which endpoints get them is decided when they are dispatched.
 */
export async function writeWebhookMessages(tx: Tx, messages: WebhookMessage[]): Promise<void> {
  if (messages.length === 0) return;
  const now = new Date();
  await tx.query('INSERT INTO webhook_messages (message_id, event_type, payload, occurred_at) VALUES ?', [
    messages.map((message) => [uuidv7(), message.event, jsonData(message.data), message.at ?? now]),
  ]);
  tx.publish(new WebhookMessagesWritten(messages.length));
}
