import type { AppContext } from '../../app-context.js';
import { WriteConflictError } from '../../infra/db/transaction.js';
import { FinishReason } from '../campaigns/campaign.entity.js';
import { finishCampaignsThatCannotServe } from '../campaigns/campaign-finishing.js';
import { CouponListStockChanged } from '../lists/coupon-list.events.js';
import { markExpiryCarriedOut, reopenExpiry, snapshotOf } from '../lists/list-rows.js';
import { WebhookEvent } from '../webhooks/webhook-event.js';
import { writeWebhookMessages } from '../webhooks/webhook-outbox.js';

export const EXPIRY_QUEUE = 'list-expiry';
export const EXPIRY_SWEEP_QUEUE = 'list-expiry-sweep';

export interface ExpireListJob {
  listId: string;
  /** The expiresAt the job was scheduled for (ms); the processor trusts only the row. */
  expiresAt: number;
}

/** A job that fires this close before expires_at (clock skew between hosts) is retried, not dropped. */
const EARLY_TOLERANCE_MS = 60_000;

/** Stable per list and expiry time: re-adding an unchanged expiry adds nothing. */
export function expiryJobId(listId: string, expiresAt: Date): string {
  return `expire-${listId}-${expiresAt.getTime()}`;
}

class NotYetExpiredError extends Error {}

interface ExpiryRow {
  id: string;
  name: string;
  total_codes: number;
  assigned_codes: number;
  warning_limit: number | null;
  expires_at: Date | null;
  expiry_processed_at: Date | null;
  expired: number | null;
  ms_left: number | null;
}

/**
 * Timed expiry. A list's status is derived from expires_at, so reads and claims see EXPIRED on
 * time by themselves; what must happen once, at that moment, is finishing the campaigns that can
 * no longer hand out a code (LIST_EXPIRED) and telling subscribers.
 *
 * A delayed job per list and expiry time does it on time; a periodic sweep and a check when a
 * worker starts catch expiries that passed while no worker ran. `expiry_processed_at` records
 * which expires_at was carried out, so a re-run, a retried job or a job for an old time changes
 * nothing; the work itself is idempotent too (finishing only ACTIVE campaigns that cannot serve).
 */
export class ListExpiryService {
  constructor(private readonly app: AppContext) {}

  /** After a list was created with, or given, a new expiresAt (or had it removed). */
  async reschedule(listId: string, expiresAt: Date | null, previous: Date | null, created: boolean): Promise<void> {
    if (!created && (previous?.getTime() ?? null) === (expiresAt?.getTime() ?? null)) return;
    if (!created) {
      // A new expiry time is a new expiry to carry out (a later one made the list ACTIVE again).
      await reopenExpiry(this.app.dataSource, listId);
    }
    const queue = this.app.queues.queue(EXPIRY_QUEUE);
    if (previous && previous.getTime() !== expiresAt?.getTime()) {
      // A job that is running right now cannot be removed; it will find nothing to do.
      await queue.remove(expiryJobId(listId, previous)).catch(() => 0);
    }
    if (expiresAt) await this.schedule(listId, expiresAt);
  }

  async schedule(listId: string, expiresAt: Date): Promise<void> {
    await this.app.queues.queue(EXPIRY_QUEUE).add('expire', { listId, expiresAt: expiresAt.getTime() } satisfies ExpireListJob, {
      jobId: expiryJobId(listId, expiresAt),
      delay: Math.max(0, expiresAt.getTime() - Date.now()),
      attempts: 10,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: true,
      removeOnFail: { count: 1000 },
    });
  }

  /** The job: carries out the list's expiry if it is due and not done yet. True if it did. */
  async expire(listId: string): Promise<boolean> {
    const done = await this.app.transaction(async (tx) => {
      const [row]: ExpiryRow[] = await tx.query(
        `SELECT id, name, total_codes, assigned_codes, warning_limit, expires_at, expiry_processed_at,
                expires_at <= UTC_TIMESTAMP(3) AS expired, TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(3), expires_at) DIV 1000 AS ms_left
           FROM coupon_lists WHERE id = ? FOR UPDATE`,
        [listId],
      );
      if (!row || row.expires_at === null) return false;
      // Compared on the database's clock, the one the lists' LIST_CAN_SERVE_SQL and the claims use.
      if (Number(row.expired) !== 1) {
        const msLeft = Number(row.ms_left);
        if (msLeft <= EARLY_TOLERANCE_MS) throw new NotYetExpiredError(`list ${listId} expires in ${msLeft} ms`);
        return false; // moved to a later time, which has its own job
      }
      if (row.expiry_processed_at && row.expiry_processed_at.getTime() === row.expires_at.getTime()) return false;

      if (!(await markExpiryCarriedOut(tx, listId, row.expires_at))) throw new WriteConflictError(`list ${listId}: expiry changed while it was carried out`);
      const finished = await finishCampaignsThatCannotServe(tx, [listId], FinishReason.LIST_EXPIRED);
      const totalCodes = Number(row.total_codes);
      const assignedCodes = Number(row.assigned_codes);
      await writeWebhookMessages(tx, [
        {
          event: WebhookEvent.LIST_EXPIRED,
          at: row.expires_at,
          data: { listId: String(row.id), listName: row.name, expiresAt: row.expires_at, totalCodes, assignedCodes, availableCodes: Math.max(0, totalCodes - assignedCodes) },
        },
      ]);
      // Status at expires_at: EXPIRED, as the database's clock found it.
      const figures = { id: String(row.id), name: row.name, totalCodes, assignedCodes, warningLimit: row.warning_limit === null ? null : Number(row.warning_limit), expiresAt: row.expires_at };
      tx.publish(new CouponListStockChanged(snapshotOf(figures, row.expires_at)));
      this.app.logger.info({ listId, expiresAt: row.expires_at, campaignsFinished: finished }, 'coupon list expired');
      return true;
    }, {
      // After a lost COMMIT: done if the row records this expiry as carried out.
      committed: async () => {
        const [row] = await this.app.dataSource.query('SELECT expiry_processed_at = expires_at AS done FROM coupon_lists WHERE id = ?', [listId]);
        return Number(row?.done) === 1;
      },
    });
    return done;
  }

  /**
   * Carries out every expiry that is due and not done (worker start-up and periodically), and
   * makes sure every future expiry has its job (jobs may be lost with Redis's data).
   */
  async sweep(options: { scheduleFuture?: boolean } = {}): Promise<number> {
    const due: Array<{ id: string }> = await this.app.dataSource.query(
      `SELECT id FROM coupon_lists
        WHERE expires_at <= UTC_TIMESTAMP(3) AND (expiry_processed_at IS NULL OR expiry_processed_at <> expires_at)`,
    );
    let expired = 0;
    for (const row of due) {
      try {
        if (await this.expire(String(row.id))) expired++;
      } catch (error) {
        this.app.logger.warn({ err: error, listId: row.id }, 'expiry not carried out; the next sweep retries');
      }
    }
    if (options.scheduleFuture) {
      const future: Array<{ id: string; expires_at: Date }> = await this.app.dataSource.query(
        'SELECT id, expires_at FROM coupon_lists WHERE expires_at > UTC_TIMESTAMP(3)',
      );
      for (const row of future) await this.schedule(String(row.id), row.expires_at);
    }
    return expired;
  }
}
