import type { AppContext } from '../../app-context.js';

/** Outbox rows looked at per transaction, oldest first. */
const CHUNK = 500;
/** Chunks per run at most: a long backlog is worked off over several runs, never in one long job. */
const MAX_CHUNKS = 40;

export interface RetentionResult {
  messages: number;
  deliveries: number;
  attempts: number;
}

/**
 * Deletes webhook messages older than WEBHOOK_RETENTION_DAYS whose every delivery is final
 * (DELIVERED or FAILED), with those deliveries and their attempts. A message with a delivery still
 * PENDING (a disabled endpoint's backlog, a redelivery) is kept whole. Rows are walked by primary
 * key from the oldest: ids grow with time, so the walk stops at the first message inside the
 * retention period. 0 keeps everything.
 */
export class WebhookRetention {
  constructor(private readonly app: AppContext) {}

  async run(now = new Date()): Promise<RetentionResult> {
    const total: RetentionResult = { messages: 0, deliveries: 0, attempts: 0 };
    const days = this.app.config.WEBHOOK_RETENTION_DAYS;
    if (days === 0) return total;
    const cutoff = new Date(now.getTime() - days * 86_400_000);
    let after = '0';
    for (let chunk = 0; chunk < MAX_CHUNKS; chunk++) {
      const { last, reachedCutoff, removed } = await this.chunk(after, cutoff);
      total.messages += removed.messages;
      total.deliveries += removed.deliveries;
      total.attempts += removed.attempts;
      if (last === null || reachedCutoff) break;
      after = last;
    }
    if (total.messages > 0) this.app.logger.info({ ...total, cutoff }, 'webhook retention: old messages deleted');
    return total;
  }

  private chunk(after: string, cutoff: Date): Promise<{ last: string | null; reachedCutoff: boolean; removed: RetentionResult }> {
    return this.app.transaction(
      async (tx) => {
        const removed: RetentionResult = { messages: 0, deliveries: 0, attempts: 0 };
        const messages: Array<{ id: string; occurred_at: Date; dispatched: number }> = await tx.query(
          'SELECT id, occurred_at, dispatched FROM webhook_messages WHERE id > ? ORDER BY id LIMIT ?',
          [after, CHUNK],
        );
        if (messages.length === 0) return { last: null, reachedCutoff: true, removed };
        const old = messages.filter((row) => row.occurred_at < cutoff && Number(row.dispatched) === 1).map((row) => String(row.id));
        const reachedCutoff = messages.some((row) => row.occurred_at >= cutoff);
        const last = String(messages[messages.length - 1].id);
        if (old.length === 0) return { last, reachedCutoff, removed };
        // Locked: a redelivery decided meanwhile waits, then finds its row (or this run keeps the message).
        const deliveries: Array<{ id: string; message_row_id: string; status: string }> = await tx.query(
          'SELECT id, message_row_id, status FROM webhook_deliveries WHERE message_row_id IN (?) FOR UPDATE',
          [old],
        );
        const kept = new Set(deliveries.filter((row) => row.status === 'PENDING').map((row) => String(row.message_row_id)));
        const gone = old.filter((id) => !kept.has(id));
        if (gone.length === 0) return { last, reachedCutoff, removed };
        const goneSet = new Set(gone);
        const deliveryIds = deliveries.filter((row) => goneSet.has(String(row.message_row_id))).map((row) => row.id);
        if (deliveryIds.length > 0) {
          const attempts = await tx.query('DELETE FROM webhook_attempts WHERE delivery_id IN (?)', [deliveryIds]);
          const deleted = await tx.query('DELETE FROM webhook_deliveries WHERE id IN (?)', [deliveryIds]);
          removed.attempts = Number(attempts.affectedRows ?? 0);
          removed.deliveries = Number(deleted.affectedRows ?? 0);
        }
        const deletedMessages = await tx.query('DELETE FROM webhook_messages WHERE id IN (?)', [gone]);
        removed.messages = Number(deletedMessages.affectedRows ?? 0);
        return { last, reachedCutoff, removed };
      },
      { isolation: 'READ COMMITTED' },
    );
  }
}
