import { createHash } from 'node:crypto';
import type { AppContext } from '../../app-context.js';
import type { CouponListSnapshot } from '../lists/coupon-list.events.js';
import { ABOVE_WARNING_LIMIT_SQL, AT_OR_BELOW_WARNING_LIMIT_SQL, flagLowStock, rearmLowStockAlert } from '../lists/list-rows.js';
import { WebhookEvent } from '../webhooks/webhook-event.js';
import { writeWebhookMessages } from '../webhooks/webhook-outbox.js';
import { LowStockAlertRaised, type LowStockAlertFigures } from './low-stock.events.js';

export const LOW_STOCK_MAIL_QUEUE = 'low-stock-mail';
export const LOW_STOCK_SWEEP_QUEUE = 'low-stock-sweep';

/** One e-mail to one recipient about one crossing. */
export interface LowStockMailJob {
  listId: string;
  crossing: number;
  to: string;
  availableCodes: number;
  warningLimit: number;
  at: string;
}

/** How long what this process learnt about a list's alert state lets it skip the database. */
const KNOWN_STATE_TTL_MS = 5000;
const MAX_KNOWN_LISTS = 10_000;

interface KnownState {
  totalCodes: number;
  warningLimit: number;
  alerted: boolean;
  at: number;
}

interface AlertRow {
  total_codes: number;
  assigned_codes: number;
  warning_limit: number | null;
  low_stock_alerted: number;
}

/**
 * Low-stock alerts: exactly one per crossing of the warning limit, whichever and however many
 * processes see the crossing at once.
 *
 * The database decides. `low_stock_alerted` flips 0→1 only by a conditional UPDATE that also
 * requires the list to be at or below its limit; the one statement that changes the row (one
 * affected row) raises the alert, every concurrent one affects nothing. It flips back 1→0 (the
 * alert is armed again) only by a conditional UPDATE that requires the list to be above its
 * limit (or to have none), i.e. after the list has risen again.
 *
 * Per-claim cost: a snapshot without a warning limit costs nothing; otherwise this process
 * remembers for a few seconds what it last learnt about the list (its total and whether it is
 * alerted) and skips the database while a snapshot agrees with that. Claims only lower
 * availability and never change the total, so a list far above its limit that is being
 * claimed from is not read again until the memory expires; rises (uploads, a raised limit)
 * change the total and are checked at once. Checks of one list never run in parallel within
 * a process. A periodic sweep repairs anything missed (e.g. a process that died between
 * commit and check).
 */
export class LowStockAlertService {
  private readonly known = new Map<string, KnownState>();
  /** Lists being checked; true when another check was asked for meanwhile. */
  private readonly checking = new Map<string, boolean>();
  private warnedNoSmtp = false;

  constructor(private readonly app: AppContext) {}

  /** A list's committed figures changed (claim, upload, edit, expiry). Resolves when the check it asked for is done. */
  onStockChanged(list: CouponListSnapshot): Promise<void> | void {
    if (list.warningLimit === null || list.totalCodes === 0) return;
    const known = this.known.get(list.id);
    const atOrBelow = list.availableCodes <= list.warningLimit;
    if (
      known &&
      known.totalCodes === list.totalCodes &&
      known.warningLimit === list.warningLimit &&
      known.alerted === atOrBelow &&
      Date.now() - known.at < KNOWN_STATE_TTL_MS
    ) {
      return;
    }
    return this.requestCheck(list.id);
  }

  /** A list was created or edited: its limit or figures may have moved either way. */
  onEdited(listId: string): Promise<void> {
    this.known.delete(listId);
    return this.requestCheck(listId);
  }

  /** Checks a list soon; concurrent requests for one list collapse into one more check. */
  requestCheck(listId: string): Promise<void> {
    if (this.checking.has(listId)) {
      this.checking.set(listId, true);
      return Promise.resolve();
    }
    this.checking.set(listId, false);
    return (async () => {
      try {
        do {
          this.checking.set(listId, false);
          await this.check(listId);
        } while (this.checking.get(listId));
      } catch (error) {
        this.known.delete(listId);
        this.app.logger.warn({ err: error, listId }, 'low-stock check failed; the sweep will retry');
      } finally {
        this.checking.delete(listId);
      }
    })();
  }

  /** Brings the list's alert state in line with its figures, raising the alert if this process wins the crossing. */
  async check(listId: string): Promise<void> {
    for (let round = 0; round < 3; round++) {
      const rows: AlertRow[] = await this.app.dataSource.query(
        'SELECT total_codes, assigned_codes, warning_limit, low_stock_alerted FROM coupon_lists WHERE id = ?',
        [listId],
      );
      const row = rows[0];
      if (!row) {
        this.known.delete(listId);
        return;
      }
      const limit = row.warning_limit === null ? null : Number(row.warning_limit);
      const available = Number(row.total_codes) - Number(row.assigned_codes);
      const alerted = Number(row.low_stock_alerted) === 1;
      if (alerted && (limit === null || available > limit)) {
        await this.rearm(listId);
        continue; // it may have fallen again meanwhile
      }
      if (!alerted && limit !== null && Number(row.total_codes) > 0 && available <= limit) {
        await this.raise(listId);
        continue; // raised here, or by another process: read what holds now
      }
      this.remember(listId, { totalCodes: Number(row.total_codes), warningLimit: limit ?? -1, alerted, at: Date.now() });
      return;
    }
  }

  /** Re-arms the alert of a list that is above its limit (or has none any more). */
  private async rearm(listId: string): Promise<boolean> {
    return rearmLowStockAlert(this.app.dataSource, listId);
  }

  /** Raises the alert if this statement is the one that flips the flag; true if it did. */
  async raise(listId: string): Promise<boolean> {
    return this.app.transaction(async (tx) => {
      if (!(await flagLowStock(tx, listId))) return false;
      const [row]: Array<{ name: string; total_codes: number; assigned_codes: number; warning_limit: number; alert_emails: unknown; low_stock_alerts: number }> =
        await tx.query(
          'SELECT name, total_codes, assigned_codes, warning_limit, alert_emails, low_stock_alerts FROM coupon_lists WHERE id = ?',
          [listId],
        );
      const alert: LowStockAlertFigures = {
        listId,
        listName: row.name,
        availableCodes: Math.max(0, Number(row.total_codes) - Number(row.assigned_codes)),
        warningLimit: Number(row.warning_limit),
        at: new Date(),
        crossing: Number(row.low_stock_alerts),
      };
      // Enqueued before COMMIT: if Redis cannot take the jobs, the flag is not set either and the
      // next check or the sweep raises the alert again (same crossing number, same job ids).
      await writeWebhookMessages(tx, [
        {
          event: WebhookEvent.LIST_LOW_STOCK,
          at: alert.at,
          data: { listId, listName: alert.listName, availableCodes: alert.availableCodes, warningLimit: alert.warningLimit, at: alert.at },
        },
      ]);
      await this.enqueueMails(alert, parseEmails(row.alert_emails));
      tx.publish(new LowStockAlertRaised(alert));
      this.app.logger.info({ listId, availableCodes: alert.availableCodes, warningLimit: alert.warningLimit, crossing: alert.crossing }, 'low-stock alert raised');
      return true;
    });
  }

  private async enqueueMails(alert: LowStockAlertFigures, recipients: string[]): Promise<void> {
    if (recipients.length === 0) return;
    if (!this.app.config.SMTP_URL) {
      if (!this.warnedNoSmtp) this.app.logger.warn('SMTP_URL is not set: low-stock alerts are not e-mailed');
      this.warnedNoSmtp = true;
      return;
    }
    const { ALERT_MAIL_ATTEMPTS, ALERT_MAIL_RETRY_BASE_MS } = this.app.config;
    await this.app.queues.queue(LOW_STOCK_MAIL_QUEUE).addBulk(
      recipients.map((to) => ({
        name: 'send',
        data: {
          listId: alert.listId,
          crossing: alert.crossing,
          to,
          availableCodes: alert.availableCodes,
          warningLimit: alert.warningLimit,
          at: alert.at.toISOString(),
        } satisfies LowStockMailJob,
        opts: {
          // One job per crossing and recipient, however often this runs.
          jobId: `lowstock-${alert.listId}-${alert.crossing}-${createHash('sha256').update(to.toLowerCase()).digest('hex').slice(0, 16)}`,
          attempts: ALERT_MAIL_ATTEMPTS,
          backoff: { type: 'exponential', delay: ALERT_MAIL_RETRY_BASE_MS },
          removeOnComplete: { count: 1000 },
          removeOnFail: { count: 1000 },
        },
      })),
    );
  }

  /** Checks every list whose alert state disagrees with its figures (worker start-up and periodically). */
  async sweep(): Promise<number> {
    const rows: Array<{ id: string }> = await this.app.dataSource.query(
      `SELECT id FROM coupon_lists
        WHERE (low_stock_alerted = 0 AND ${AT_OR_BELOW_WARNING_LIMIT_SQL})
           OR (low_stock_alerted = 1 AND ${ABOVE_WARNING_LIMIT_SQL})`,
    );
    for (const row of rows) await this.requestCheck(String(row.id));
    return rows.length;
  }

  private remember(listId: string, state: KnownState): void {
    if (this.known.size >= MAX_KNOWN_LISTS && !this.known.has(listId)) this.known.clear();
    this.known.set(listId, state);
  }
}

function parseEmails(value: unknown): string[] {
  const parsed = typeof value === 'string' ? (JSON.parse(value) as unknown) : value;
  return Array.isArray(parsed) ? parsed.filter((item): item is string => typeof item === 'string') : [];
}
