import type { DataSource } from 'typeorm';
import type { AppContext } from '../../app-context.js';
import { BadUserInputError, NotFoundError } from '../../common/errors.js';
import { isRowId } from '../../common/ids.js';
import { WebhookKicks } from './webhook-kicks.js';
import { webhookId } from './webhook-sender.js';
import { WebhookAttempt, WebhookDelivery, WebhookDeliveryPage, type WebhookDeliveryStatus } from './webhook.types.js';
import type { WebhookEvent } from './webhook-event.js';

const MAX_PAGE_SIZE = 200;

interface DeliveryRow {
  id: string;
  endpoint_id: string;
  message_id: string;
  event_type: WebhookEvent;
  status: WebhookDeliveryStatus;
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  created_at: Date;
  delivered_at: Date | null;
  next_attempt_at: Date | null;
}

const DELIVERY_SELECT = `SELECT d.id, d.endpoint_id, m.message_id, m.event_type, d.status, d.attempts, d.last_status_code, d.last_error,
       d.created_at, d.delivered_at, d.next_attempt_at
  FROM webhook_deliveries d JOIN webhook_messages m ON m.id = d.message_row_id`;

function deliveryFromRow(row: DeliveryRow): WebhookDelivery {
  return Object.assign(new WebhookDelivery(), {
    id: String(row.id),
    endpointId: String(row.endpoint_id),
    messageId: webhookId(row.message_id),
    event: row.event_type,
    status: row.status,
    attempts: Number(row.attempts),
    lastStatusCode: row.last_status_code === null ? null : Number(row.last_status_code),
    lastError: row.last_error,
    createdAt: row.created_at,
    deliveredAt: row.delivered_at,
    nextAttemptAt: row.status === 'PENDING' ? row.next_attempt_at : null,
  });
}

const encodeCursor = (id: string) => Buffer.from(`delivery:${id}`, 'utf8').toString('base64url');

function decodeCursor(cursor: string): string {
  const decoded = Buffer.from(cursor, 'base64url').toString('utf8');
  const id = decoded.startsWith('delivery:') ? decoded.slice(9) : '';
  if (!isRowId(id)) throw new BadUserInputError('after', 'is not a cursor returned by webhookDeliveries.nextCursor');
  return id;
}

/** Reading an endpoint's deliveries and their attempts; redelivering by hand. */
export class WebhookDeliveryService {
  private readonly dataSource: DataSource;
  private readonly kicks: WebhookKicks;

  constructor(app: AppContext) {
    this.dataSource = app.dataSource;
    this.kicks = app.get(WebhookKicks);
  }

  /** Newest first, keyset-paged on (endpoint_id, id). */
  async page(endpointId: string, first: number, after: string | null): Promise<WebhookDeliveryPage> {
    if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE_SIZE) throw new BadUserInputError('first', `must be between 1 and ${MAX_PAGE_SIZE}`);
    if (!isRowId(endpointId)) throw new NotFoundError('Webhook endpoint', endpointId);
    const values: unknown[] = [endpointId];
    let keyset = '';
    if (after) {
      keyset = 'AND d.id < ?';
      values.push(decodeCursor(after));
    }
    values.push(first + 1);
    const rows: DeliveryRow[] = await this.dataSource.query(
      `${DELIVERY_SELECT} WHERE d.endpoint_id = ? ${keyset} ORDER BY d.id DESC LIMIT ?`,
      values,
    );
    const items = rows.slice(0, first).map(deliveryFromRow);
    return Object.assign(new WebhookDeliveryPage(), { items, nextCursor: rows.length > first ? encodeCursor(items[items.length - 1].id) : null });
  }

  async getById(id: string): Promise<WebhookDelivery> {
    const [row]: DeliveryRow[] = isRowId(id) ? await this.dataSource.query(`${DELIVERY_SELECT} WHERE d.id = ?`, [id]) : [];
    if (!row) throw new NotFoundError('Webhook delivery', id);
    return deliveryFromRow(row);
  }

  /** Attempts of many deliveries, oldest first (one query). */
  async attemptsOf(deliveryIds: string[]): Promise<Map<string, WebhookAttempt[]>> {
    const byId = new Map<string, WebhookAttempt[]>(deliveryIds.map((id) => [id, []]));
    if (deliveryIds.length === 0) return byId;
    const rows: Array<{ delivery_id: string; attempt: number; status_code: number | null; error: string | null; duration_ms: number; at: Date }> =
      await this.dataSource.query(
        'SELECT delivery_id, attempt, status_code, error, duration_ms, at FROM webhook_attempts WHERE delivery_id IN (?) ORDER BY id',
        [deliveryIds],
      );
    for (const row of rows) {
      byId.get(String(row.delivery_id))?.push(
        Object.assign(new WebhookAttempt(), {
          attempt: Number(row.attempt),
          statusCode: row.status_code === null ? null : Number(row.status_code),
          error: row.error,
          durationMs: Number(row.duration_ms),
          at: row.at,
        }),
      );
    }
    return byId;
  }

  /**
   * Sends the message again now, with the same webhook-id (receivers deduplicate by it): the
   * delivery becomes PENDING and due. Attempts keep counting (every one stays recorded); a
   * delivery whose retries were used up makes this one attempt and is FAILED again if it fails.
   */
  async redeliver(id: string): Promise<WebhookDelivery> {
    const delivery = await this.getById(id);
    await this.dataSource.query(
      `UPDATE webhook_deliveries SET status = 'PENDING', next_attempt_at = UTC_TIMESTAMP(3), delivered_at = NULL WHERE id = ?`,
      [delivery.id],
    );
    await this.kicks.endpoint(delivery.endpointId);
    return this.getById(delivery.id);
  }
}
