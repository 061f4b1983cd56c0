import type { DataSource } from 'typeorm';
import type { AppContext } from '../../app-context.js';
import type { Logger } from '../../infra/logging/logger.js';
import { WebhookKicks } from './webhook-kicks.js';

/** Outbox rows handled per transaction. */
const DISPATCH_BATCH = 1000;

interface OutboxRow {
  id: string;
  event_type: string;
}

interface EndpointEvents {
  id: string;
  events: unknown;
}

/**
 * Turns outbox rows into one delivery row per subscribed, enabled endpoint, and wakes those
 * endpoints' senders. Rows are taken with SKIP LOCKED, so several workers share the work; the
 * unique key (endpoint, message) makes a repeated dispatch add nothing.
 */
export class WebhookDispatcher {
  private readonly dataSource: DataSource;
  private readonly logger: Logger;
  private readonly kicks: WebhookKicks;

  constructor(private readonly app: AppContext) {
    this.dataSource = app.dataSource;
    this.logger = app.logger;
    this.kicks = app.get(WebhookKicks);
  }

  /** Dispatches until no undispatched row is left; returns how many rows it handled. */
  async dispatchAll(): Promise<number> {
    let total = 0;
    for (;;) {
      const { handled, endpoints } = await this.dispatchBatch();
      total += handled;
      await Promise.all([...endpoints].map((id) => this.kicks.endpoint(id)));
      if (handled < DISPATCH_BATCH) return total;
    }
  }

  private async dispatchBatch(): Promise<{ handled: number; endpoints: Set<string> }> {
    const endpoints = new Set<string>();
    const handled = await this.app.transaction(
      async (tx) => {
        const rows: OutboxRow[] = await tx.query(
          'SELECT id, event_type FROM webhook_messages WHERE dispatched = 0 ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED',
          [DISPATCH_BATCH],
        );
        if (rows.length === 0) return 0;
        const subscribers: EndpointEvents[] = await tx.query('SELECT id, events FROM webhook_endpoints WHERE enabled = 1');
        const byEvent = new Map<string, string[]>();
        for (const endpoint of subscribers) {
          const events = typeof endpoint.events === 'string' ? (JSON.parse(endpoint.events) as string[]) : (endpoint.events as string[]);
          for (const event of events) byEvent.set(event, [...(byEvent.get(event) ?? []), String(endpoint.id)]);
        }
        const now = new Date();
        const deliveries: unknown[][] = [];
        for (const row of rows) {
          for (const endpointId of byEvent.get(row.event_type) ?? []) {
            deliveries.push([endpointId, row.id, now, now]);
            endpoints.add(endpointId);
          }
        }
        if (deliveries.length > 0) {
          await tx.query('INSERT IGNORE INTO webhook_deliveries (endpoint_id, message_row_id, created_at, next_attempt_at) VALUES ?', [deliveries]);
        }
        await tx.query('UPDATE webhook_messages SET dispatched = 1 WHERE id IN (?)', [rows.map((row) => row.id)]);
        return rows.length;
      },
      { isolation: 'READ COMMITTED' },
    );
    return { handled, endpoints };
  }

  /**
   * The safety net, run every WEBHOOK_SWEEP_INTERVAL_MS and when a worker starts: dispatches
   * outbox rows whose signal was lost, and wakes every enabled endpoint with a due delivery
   * (retries come due this way, and deliveries of a worker that died mid-send).
   */
  async sweep(): Promise<{ dispatched: number; endpoints: number }> {
    const dispatched = await this.dispatchAll();
    const due: Array<{ endpoint_id: string }> = await this.dataSource.query(
      `SELECT e.id AS endpoint_id FROM webhook_endpoints e
        WHERE e.enabled = 1 AND EXISTS (SELECT 1 FROM webhook_deliveries d FORCE INDEX (idx_webhook_deliveries_endpoint_due)
                                         WHERE d.endpoint_id = e.id AND d.status = 'PENDING' AND d.next_attempt_at <= UTC_TIMESTAMP(3))`,
    );
    await Promise.all(due.map((row) => this.kicks.endpoint(String(row.endpoint_id))));
    if (dispatched > 0) this.logger.debug({ dispatched, endpoints: due.length }, 'webhook sweep');
    return { dispatched, endpoints: due.length };
  }
}
