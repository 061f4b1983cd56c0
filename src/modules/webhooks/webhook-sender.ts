import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import type { DataSource } from 'typeorm';
import type { AppContext } from '../../app-context.js';
import type { AppConfig } from '../../config/config.js';
import type { Logger } from '../../infra/logging/logger.js';
import type { QueueRegistry } from '../../infra/queue/queue-registry.js';
import { privateUrlsAllowed } from './webhook-endpoint.service.js';
import { WEBHOOK_TYPE, type WebhookEvent } from './webhook-event.js';
import { WebhookHttpClient } from './webhook-http-client.js';
import { alertMailJobOptions, WEBHOOK_ALERT_MAIL_QUEUE, type AlertMailJobData } from './webhook-jobs.js';

interface EndpointRow {
  id: string;
  url: string;
  /** `url` parsed once per lease. */
  target: URL;
  secret: string;
  alert_emails: unknown;
  failing_since: Date | null;
}

/** A leased delivery with its message and its endpoint as they are now. */
interface DueRow {
  id: string;
  endpoint_id: string;
  message_row_id: string;
  attempts: number;
  created_at: Date;
  message_id: string;
  event_type: WebhookEvent;
  payload: unknown;
  occurred_at: Date;
  url: string;
  secret: string;
  alert_emails: unknown;
  failing_since: Date | null;
}

const endpointOf = (row: DueRow): EndpointRow => ({
  id: String(row.endpoint_id),
  url: row.url,
  target: new URL(row.url),
  secret: row.secret,
  alert_emails: row.alert_emails,
  failing_since: row.failing_since,
});

interface AttemptResult {
  row: DueRow;
  attempt: number;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
  at: Date;
}

const ERROR_CHARS = 500;
/** Answers recorded together at most this long after the first of them arrived, or sooner once RECORD_BATCH are in. */
const RECORD_DELAY_MS = 100;
const RECORD_BATCH = 256;
/** While less than half a window is due, leases start at most this often (a message waits at most this long more). */
const LEASE_EVERY_MS = 100;
/** How long a job with nothing due keeps looking (every LEASE_EVERY_MS) before it ends. */
const LINGER_MS = 300;

/** The webhook-id of a stored message: the same on every attempt and every redelivery. */
export const webhookId = (messageId: string) => `msg_${messageId.replace(/-/g, '')}`;

/** The JSON body of a stored message: byte for byte the same on every attempt. */
export function webhookBody(row: { event_type: WebhookEvent; payload: unknown; occurred_at: Date }): string {
  const head = `{"type":${JSON.stringify(WEBHOOK_TYPE[row.event_type])},"timestamp":"${row.occurred_at.toISOString()}","data":`;
  // MariaDB hands the stored JSON text back as it was written (no parse and stringify again); MySQL parses it.
  return `${head}${typeof row.payload === 'string' ? row.payload : JSON.stringify(row.payload)}}`;
}

/**
 * Sends one endpoint's due deliveries: up to WEBHOOK_ENDPOINT_CONCURRENCY at once, each
 * signed by the standardwebhooks library with the endpoint's current secret, every attempt
 * recorded. A job runs per endpoint, so a slow or dead endpoint holds only its own job.
 *
 * Taking deliveries is a lease: one UPDATE moves their next_attempt_at past the attempt's timeout
 * and marks them with the lease's token, so another worker never sends them at the same time,
 * and a worker killed mid-send leaves them due again when the lease ends.
 */
export class WebhookSender {
  private readonly dataSource: DataSource;
  private readonly config: AppConfig;
  private readonly logger: Logger;
  private readonly queues: QueueRegistry;
  private readonly client: WebhookHttpClient;
  private readonly signers = new Map<string, Webhook>();
  private closing = false;

  constructor(private readonly app: AppContext) {
    this.dataSource = app.dataSource;
    this.config = app.config;
    this.logger = app.logger;
    this.queues = app.queues;
    this.client = new WebhookHttpClient(privateUrlsAllowed(app.config));
  }

  close(): void {
    this.closing = true;
    this.client.close();
  }

  /** Delay before attempt `attempt + 1` after `attempt` failed ones, or null when retries are used up. */
  retryDelayMs(attempt: number): number | null {
    const schedule = this.config.WEBHOOK_RETRY_SCHEDULE_SECONDS;
    if (attempt > schedule.length) return null;
    // ±10 % jitter spreads retries of many messages that failed together.
    return Math.round(schedule[attempt - 1] * 1000 * (0.9 + Math.random() * 0.2));
  }

  /**
   * The job of one endpoint: sends until nothing of it is due, keeping up to
   * WEBHOOK_ENDPOINT_CONCURRENCY requests in flight. A window, not rounds: whenever half of it is
   * free, one lease fills it again, so a slow answer holds only its own slot. Answers are recorded
   * in bulk, one record at a time, each taking every answer that arrived meanwhile: when the
   * last request in flight is answered, or at most RECORD_DELAY_MS after the first of them (a
   * delivery stays leased until its answer is recorded). When nothing is due the job looks again for LINGER_MS before it ends: under a
   * steady stream of messages one job runs the endpoint instead of one per wake-up. Returns how
   * many attempts were made.
   */
  async sendDue(endpointId: string): Promise<number> {
    const limit = this.config.WEBHOOK_ENDPOINT_CONCURRENCY;
    const refillAt = Math.max(1, Math.floor(limit / 2));
    const sending = new Set<Promise<void>>();
    let answered: AttemptResult[] = [];
    let recording: Promise<void> | null = null;
    let recordTimer: NodeJS.Timeout | null = null;
    let failure: unknown = null;
    let endpoint: EndpointRow | null = null;
    let attempts = 0;
    const flush = (now: boolean) => {
      if (recording || answered.length === 0 || !endpoint) return;
      if (!now && answered.length < RECORD_BATCH) {
        recordTimer ??= setTimeout(() => {
          recordTimer = null;
          flush(true);
        }, RECORD_DELAY_MS);
        return;
      }
      if (recordTimer) clearTimeout(recordTimer);
      recordTimer = null;
      const results = answered;
      answered = [];
      recording = this.record(endpoint, results)
        .catch((error: unknown) => {
          failure ??= error;
        })
        .finally(() => {
          recording = null;
          flush(false);
        });
    };
    let idleSince: number | null = null;
    while (!this.closing && failure === null) {
      const room = limit - sending.size;
      if (sending.size > 0 && room < refillAt) {
        await Promise.race(sending);
        continue;
      }
      const leaseStarted = Date.now();
      const due = await this.lease(endpointId, room);
      if (due.length > 0) endpoint = endpointOf(due[0]);
      for (const row of due) {
        const sent: Promise<void> = this.attempt(endpoint!, row).then((result) => {
          attempts++;
          answered.push(result);
          sending.delete(sent);
          // The last answer in flight is recorded at once (with whatever else waits): nothing more is coming soon.
          flush(sending.size === 0);
        });
        sending.add(sent);
      }
      if (sending.size === 0) {
        idleSince ??= leaseStarted;
        if (Date.now() - idleSince >= LINGER_MS) break;
        await sleep(LEASE_EVERY_MS);
        continue;
      }
      idleSince = null;
      if (due.length < room) {
        // Less was due than there was room for: let the window empty before asking again, and
        // after a small lease gather what comes meanwhile rather than lease a handful at a time.
        await Promise.all([...sending]);
        if (due.length < refillAt) await sleep(Math.max(0, leaseStarted + LEASE_EVERY_MS - Date.now()));
      }
    }
    await Promise.all([...sending]);
    while (recording || (answered.length > 0 && failure === null)) {
      flush(true);
      await recording;
    }
    if (recordTimer) clearTimeout(recordTimer);
    if (failure !== null) throw failure;
    return attempts;
  }

  /**
   * Takes up to `batch` due deliveries of an enabled endpoint in one UPDATE: their
   * next_attempt_at moves past the attempt's timeout, marked with a token of this lease. A
   * lease of another worker (a job taken over) waits for the row locks and then sees the moved rows as not due. One read
   * then loads exactly the leased rows with their messages and the endpoint's current URL and
   * secret (a rotated secret signs the very next attempt).
   */
  private async lease(endpointId: string, batch: number): Promise<DueRow[]> {
    const leaseMs = (Math.ceil(this.config.WEBHOOK_TIMEOUT_MS / 1000) + 5) * 1000;
    const until = new Date(Date.now() + leaseMs);
    const token = randomBytes(8).toString('hex');
    // In the transaction helper for its deadlock retries (a lease can meet a record's writes).
    const result: { affectedRows?: number } = await this.app.transaction((tx) =>
      tx.query(
        // FORCE INDEX: without it the optimizer may sort every PENDING row of the endpoint, and an UPDATE locks what it reads.
        `UPDATE webhook_deliveries FORCE INDEX (idx_webhook_deliveries_endpoint_due) SET next_attempt_at = ?, lease_token = ?
          WHERE endpoint_id = ? AND status = 'PENDING' AND next_attempt_at <= UTC_TIMESTAMP(3)
            AND EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.id = ? AND e.enabled = 1)
          ORDER BY next_attempt_at LIMIT ?`,
        [until, token, endpointId, endpointId, batch],
      ),
    );
    if (!result.affectedRows) return [];
    return this.dataSource.query(
      `SELECT d.id, d.endpoint_id, d.message_row_id, d.attempts, d.created_at, m.message_id, m.event_type, m.payload, m.occurred_at,
              e.url, e.secret, e.alert_emails, e.failing_since
         FROM webhook_deliveries d FORCE INDEX (idx_webhook_deliveries_endpoint_due)
         JOIN webhook_messages m ON m.id = d.message_row_id
         JOIN webhook_endpoints e ON e.id = d.endpoint_id
        WHERE d.endpoint_id = ? AND d.status = 'PENDING' AND d.next_attempt_at = ? AND d.lease_token = ?
        ORDER BY m.id`,
      [endpointId, until, token],
    );
  }

  private signer(secret: string): Webhook {
    let signer = this.signers.get(secret);
    if (!signer) {
      if (this.signers.size > 1000) this.signers.clear();
      signer = new Webhook(secret);
      this.signers.set(secret, signer);
    }
    return signer;
  }

  /** One signed POST; never throws. */
  private async attempt(endpoint: EndpointRow, row: DueRow): Promise<AttemptResult> {
    const id = webhookId(row.message_id);
    const body = webhookBody(row);
    const at = new Date();
    const started = performance.now();
    const result = { row, attempt: Number(row.attempts) + 1, at };
    try {
      const headers = {
        'webhook-id': id,
        'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
        'webhook-signature': this.signer(endpoint.secret).sign(id, at, body),
      };
      const response = await this.client.post(endpoint.target, headers, body, this.config.WEBHOOK_TIMEOUT_MS);
      const durationMs = Math.round(performance.now() - started);
      if (response.status >= 200 && response.status < 300) return { ...result, statusCode: response.status, error: null, durationMs };
      const excerpt = response.excerpt.trim().slice(0, 200);
      return { ...result, statusCode: response.status, error: `HTTP ${response.status}${excerpt ? `: ${excerpt}` : ''}`, durationMs };
    } catch (error) {
      const { code, message } = error as { code?: string; message?: string };
      const text = code && message && !message.includes(code) ? `${code}: ${message}` : (message ?? code ?? String(error));
      return { ...result, statusCode: null, error: text.slice(0, ERROR_CHARS), durationMs: Math.round(performance.now() - started) };
    }
  }

  /**
   * Records a round of attempts in one transaction: one insert of the attempts, one update per
   * kind of success (usually one: every answer a 200 on the first attempt), one upsert of the
   * failures with their retry times.
   */
  private async record(endpoint: EndpointRow, results: AttemptResult[]): Promise<void> {
    const now = new Date();
    const successes = new Map<string, { statusCode: number | null; attempt: number; ids: string[] }>();
    const failures: unknown[][] = [];
    for (const r of results) {
      if (r.error === null) {
        const key = `${r.statusCode}/${r.attempt}`;
        const group = successes.get(key) ?? { statusCode: r.statusCode, attempt: r.attempt, ids: [] };
        group.ids.push(r.row.id);
        successes.set(key, group);
        continue;
      }
      const delay = this.retryDelayMs(r.attempt);
      const error = delay === null ? `gave up after ${r.attempt} attempts: ${r.error}`.slice(0, ERROR_CHARS) : r.error;
      failures.push([
        r.row.id,
        r.row.endpoint_id,
        r.row.message_row_id,
        r.row.created_at,
        delay === null ? 'FAILED' : 'PENDING',
        r.attempt,
        r.statusCode,
        error,
        delay === null ? null : new Date(now.getTime() + delay),
      ]);
    }
    await this.app.transaction(async (tx) => {
      await tx.query('INSERT INTO webhook_attempts (delivery_id, attempt, status_code, error, duration_ms, at) VALUES ?', [
        results.map((r) => [r.row.id, r.attempt, r.statusCode, r.error, r.durationMs, r.at]),
      ]);
      // Only rows still PENDING change: a delivery redelivered or dropped meanwhile keeps what was decided there.
      for (const group of successes.values()) {
        await tx.query(
          `UPDATE webhook_deliveries SET status = 'DELIVERED', attempts = ?, last_status_code = ?, last_error = NULL, next_attempt_at = NULL, delivered_at = ?
            WHERE id IN (?) AND status = 'PENDING'`,
          [group.attempt, group.statusCode, now, group.ids],
        );
      }
      if (failures.length === 0) return;
      await tx.query(
        `INSERT INTO webhook_deliveries (id, endpoint_id, message_row_id, created_at, status, attempts, last_status_code, last_error, next_attempt_at)
         VALUES ? ON DUPLICATE KEY UPDATE
           attempts = IF(status = 'PENDING', VALUES(attempts), attempts),
           last_status_code = IF(status = 'PENDING', VALUES(last_status_code), last_status_code),
           last_error = IF(status = 'PENDING', VALUES(last_error), last_error),
           next_attempt_at = IF(status = 'PENDING', VALUES(next_attempt_at), next_attempt_at),
           delivered_at = IF(status = 'PENDING', NULL, delivered_at),
           status = IF(status = 'PENDING', VALUES(status), status)`,
        [failures],
      );
    });
    await this.updateHealth(endpoint, successes.size > 0, results.find((r) => r.error !== null)?.error ?? null);
  }

  /**
   * An answer clears the endpoint's failure clock; a round with no answer starts it. Once it has
   * run for WEBHOOK_DISABLE_AFTER_SECONDS the endpoint is disabled (one conditional update
   * decides, whichever worker sees it) and its owners are e-mailed.
   */
  private async updateHealth(endpoint: EndpointRow, anyDelivered: boolean, lastError: string | null): Promise<void> {
    if (anyDelivered) {
      if (endpoint.failing_since) await this.dataSource.query('UPDATE webhook_endpoints SET failing_since = NULL WHERE id = ? AND failing_since IS NOT NULL', [endpoint.id]);
      return;
    }
    if (!endpoint.failing_since) {
      await this.dataSource.query('UPDATE webhook_endpoints SET failing_since = UTC_TIMESTAMP(3) WHERE id = ? AND failing_since IS NULL', [endpoint.id]);
      return;
    }
    const grace = this.config.WEBHOOK_DISABLE_AFTER_SECONDS;
    const span = grace >= 3600 ? `${Math.round((grace / 3600) * 10) / 10} h` : `${grace} s`;
    const reason = `every attempt failed since ${endpoint.failing_since.toISOString()} (over ${span}); last error: ${lastError ?? 'unknown'}`.slice(0, 1000);
    const result = await this.dataSource.query(
      `UPDATE webhook_endpoints SET enabled = 0, disabled_reason = ?
        WHERE id = ? AND enabled = 1 AND failing_since IS NOT NULL AND failing_since <= UTC_TIMESTAMP(3) - INTERVAL ? SECOND`,
      [reason, endpoint.id, this.config.WEBHOOK_DISABLE_AFTER_SECONDS],
    );
    if (Number(result.affectedRows) !== 1) return;
    this.logger.warn({ endpointId: endpoint.id, url: endpoint.url, reason }, 'webhook endpoint disabled');
    const recipients = parseList(endpoint.alert_emails);
    if (recipients.length === 0) return;
    if (!this.config.SMTP_URL) {
      this.logger.warn({ endpointId: endpoint.id }, 'SMTP_URL is not set: the disabled webhook endpoint is not e-mailed');
      return;
    }
    const disabledAt = new Date();
    await this.queues.queue(WEBHOOK_ALERT_MAIL_QUEUE).addBulk(
      recipients.map((to) => ({
        name: 'mail',
        data: { endpointId: String(endpoint.id), to, url: endpoint.url, reason } satisfies AlertMailJobData,
        opts: alertMailJobOptions(String(endpoint.id), disabledAt, to),
      })),
    );
  }
}

function parseList(value: unknown): string[] {
  const parsed = typeof value === 'string' ? (JSON.parse(value) as unknown) : value;
  return Array.isArray(parsed) ? parsed.map(String) : [];
}

