import { randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { AppContext } from '../../app-context.js';
import type { AppConfig } from '../../config/config.js';
import { BadUserInputError, NotFoundError } from '../../common/errors.js';
import { isRowId } from '../../common/ids.js';
import { requireEmails, requireText } from '../../common/validation.js';
import { WEBHOOK_EVENTS, type WebhookEvent } from './webhook-event.js';
import { firstNonPublicAddress, webhookUrlProblem } from './webhook-url-policy.js';
import { CreatedWebhookEndpoint, WebhookEndpoint, type UpdateWebhookEndpointInput, type WebhookEndpointInput } from './webhook.types.js';

const MAX_ENDPOINTS = 100;

interface EndpointRow {
  id: string;
  url: string;
  events: unknown;
  description: string | null;
  alert_emails: unknown;
  enabled: number;
  disabled_reason: string | null;
  failing_since: Date | null;
  created_at: Date;
}

const ENDPOINT_COLUMNS = 'id, url, events, description, alert_emails, enabled, disabled_reason, failing_since, created_at';

function jsonArray(value: unknown): string[] {
  const parsed = typeof value === 'string' ? (JSON.parse(value) as unknown) : value;
  return Array.isArray(parsed) ? parsed.map(String) : [];
}

export function endpointFromRow(row: EndpointRow): WebhookEndpoint {
  return Object.assign(new WebhookEndpoint(), {
    id: String(row.id),
    url: row.url,
    events: jsonArray(row.events) as WebhookEvent[],
    description: row.description,
    alertEmails: jsonArray(row.alert_emails),
    enabled: Number(row.enabled) === 1,
    disabledReason: row.disabled_reason,
    failingSince: row.failing_since,
    createdAt: row.created_at,
  });
}

/** A new signing secret: whsec_ and 32 random bytes in base64 (the Standard Webhooks format). */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** Private targets are for development and tests, or where WEBHOOK_ALLOW_PRIVATE_URLS=true. */
export function privateUrlsAllowed(config: AppConfig): boolean {
  return config.WEBHOOK_ALLOW_PRIVATE_URLS || config.NODE_ENV === 'development' || config.NODE_ENV === 'test';
}

/** Webhook endpoints: created, edited, deleted and given new secrets by ADMIN keys. */
export class WebhookEndpointService {
  private readonly dataSource: DataSource;
  private readonly allowPrivate: boolean;

  constructor(app: AppContext) {
    this.dataSource = app.dataSource;
    this.allowPrivate = privateUrlsAllowed(app.config);
  }

  async list(): Promise<WebhookEndpoint[]> {
    const rows: EndpointRow[] = await this.dataSource.query(`SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints ORDER BY id`);
    return rows.map(endpointFromRow);
  }

  async findById(id: string): Promise<WebhookEndpoint | null> {
    if (!isRowId(id)) return null;
    const [row]: EndpointRow[] = await this.dataSource.query(`SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = ?`, [id]);
    return row ? endpointFromRow(row) : null;
  }

  async getById(id: string): Promise<WebhookEndpoint> {
    const endpoint = await this.findById(id);
    if (!endpoint) throw new NotFoundError('Webhook endpoint', id);
    return endpoint;
  }

  async create(input: WebhookEndpointInput): Promise<CreatedWebhookEndpoint> {
    const url = await this.validUrl('input.url', input.url);
    const events = validEvents('input.events', input.events);
    const description = input.description == null ? null : requireText('input.description', input.description, 500);
    const alertEmails = requireEmails('input.alertEmails', input.alertEmails ?? []);
    const [{ count }] = await this.dataSource.query('SELECT COUNT(*) AS count FROM webhook_endpoints');
    if (Number(count) >= MAX_ENDPOINTS) throw new BadUserInputError('input.url', `at most ${MAX_ENDPOINTS} webhook endpoints; delete one first`);
    const secret = newWebhookSecret();
    const result = await this.dataSource.query(
      'INSERT INTO webhook_endpoints (url, events, description, alert_emails, secret) VALUES (?, ?, ?, ?, ?)',
      [url, JSON.stringify(events), description, JSON.stringify(alertEmails), secret],
    );
    return Object.assign(new CreatedWebhookEndpoint(), { endpoint: await this.getById(String(result.insertId)), secret });
  }

  async update(id: string, input: UpdateWebhookEndpointInput): Promise<WebhookEndpoint> {
    const current = await this.getById(id);
    const sets: string[] = [];
    const values: unknown[] = [];
    if (input.url != null) {
      sets.push('url = ?');
      values.push(await this.validUrl('input.url', input.url));
    }
    if (input.events != null) {
      sets.push('events = ?');
      values.push(JSON.stringify(validEvents('input.events', input.events)));
    }
    if (input.description !== undefined) {
      sets.push('description = ?');
      values.push(input.description === null ? null : requireText('input.description', input.description, 500));
    }
    if (input.alertEmails != null) {
      sets.push('alert_emails = ?');
      values.push(JSON.stringify(requireEmails('input.alertEmails', input.alertEmails)));
    }
    if (input.enabled != null) {
      // Turning it on again starts a fresh day of grace; off by hand leaves no service reason.
      sets.push('enabled = ?', 'disabled_reason = NULL', 'failing_since = NULL');
      values.push(input.enabled ? 1 : 0);
    }
    if (sets.length > 0) await this.dataSource.query(`UPDATE webhook_endpoints SET ${sets.join(', ')} WHERE id = ?`, [...values, current.id]);
    return this.getById(current.id);
  }

  /** Deletes the endpoint; its pending deliveries are dropped by the sender (the endpoint is gone). */
  async delete(id: string): Promise<boolean> {
    if (!isRowId(id)) throw new NotFoundError('Webhook endpoint', id);
    const result = await this.dataSource.query('DELETE FROM webhook_endpoints WHERE id = ?', [id]);
    if (Number(result.affectedRows) !== 1) throw new NotFoundError('Webhook endpoint', id);
    await this.dataSource.query(
      `UPDATE webhook_deliveries SET status = 'FAILED', last_error = 'the endpoint was deleted', next_attempt_at = NULL
        WHERE endpoint_id = ? AND status = 'PENDING'`,
      [id],
    );
    return true;
  }

  /** A new secret; from now on every attempt (retries included) is signed with it, the old one stops working. */
  async rotateSecret(id: string): Promise<CreatedWebhookEndpoint> {
    const endpoint = await this.getById(id);
    const secret = newWebhookSecret();
    await this.dataSource.query('UPDATE webhook_endpoints SET secret = ? WHERE id = ?', [secret, endpoint.id]);
    return Object.assign(new CreatedWebhookEndpoint(), { endpoint, secret });
  }

  private async validUrl(field: string, value: string): Promise<string> {
    const url = value.trim();
    const problem = webhookUrlProblem(url);
    if (problem) throw new BadUserInputError(field, problem);
    if (!this.allowPrivate) {
      let refused: string | null;
      try {
        refused = await firstNonPublicAddress(new URL(url));
      } catch (error) {
        throw new BadUserInputError(field, `the host could not be resolved (${(error as { code?: string }).code ?? 'DNS error'})`);
      }
      if (refused) {
        throw new BadUserInputError(field, `points at the non-public address ${refused}; set WEBHOOK_ALLOW_PRIVATE_URLS=true to allow private targets`);
      }
    }
    return url;
  }
}

function validEvents(field: string, events: WebhookEvent[]): WebhookEvent[] {
  if (events.length === 0) throw new BadUserInputError(field, 'name at least one event');
  const unknown = events.find((event) => !WEBHOOK_EVENTS.includes(event));
  if (unknown) throw new BadUserInputError(field, `unknown event ${unknown}`);
  return [...new Set(events)];
}
