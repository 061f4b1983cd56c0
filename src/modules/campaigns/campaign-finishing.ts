import type { Tx } from '../../infra/db/transaction.js';
import { LIST_CAN_SERVE_SQL } from '../lists/list-rows.js';
import { WebhookEvent } from '../webhooks/webhook-event.js';
import { writeWebhookMessages, type WebhookMessage } from '../webhooks/webhook-outbox.js';
import { CampaignStatus, FinishReason } from './campaign.entity.js';
import { CampaignStatusChanged } from './campaign.events.js';

/**
 * The campaigns module owns finishing a campaign: by hand (CampaignService.finish), by a claim
 * batch that took the last code, and when lists stop serving (exhausted by a claim, expired).
 * Other modules call these inside their own transaction.
 */

/** The campaign.finished webhook message of one campaign finished at `at`. */
export function campaignFinishedMessage(campaignId: string, reason: FinishReason, at: Date): WebhookMessage {
  return { event: WebhookEvent.CAMPAIGN_FINISHED, at, data: { campaignId, finishReason: reason, finishedAt: at } };
}

/**
 * For the claim batch, which sends its writes itself (one statement per round trip): the
 * statement that finishes its ACTIVE campaign at `at`. The event is registered on `tx` now and
 * goes out after COMMIT; the caller writes the webhook message with its own.
 */
export function finishCampaignWrite(tx: Tx, campaignId: string, reason: FinishReason, at: Date): { sql: string; params: unknown[] } {
  tx.publish(new CampaignStatusChanged(campaignId, CampaignStatus.FINISHED, reason));
  return {
    sql: `UPDATE campaigns SET status = 'FINISHED', finish_reason = ?, finished_at = ?, updated_at = ? WHERE id = ? AND status = 'ACTIVE'`,
    params: [reason, at, at, campaignId],
  };
}

export interface FinishOptions {
  /** Campaigns not to look at (the claim batch's own, which it finishes itself). */
  except?: string[];
  /**
   * The claim path: campaigns whose row another transaction holds are skipped (SKIP LOCKED),
   * since that transaction is claiming from it (and sees the list after this commit) or finishing
   * it by hand; waiting could deadlock. Whether a locked campaign can still serve is then read
   * without locks, never inside the SKIP LOCKED statement, where a list row held by someone else
   * would be skipped and look unable to serve.
   */
  skipLocked?: boolean;
  /** Write the campaign.finished webhook messages here (false: the caller writes them with its own). */
  webhookMessages?: boolean;
}

/**
 * Inside the caller's transaction: finishes every ACTIVE campaign drawing from `listIds` that
 * none of its lists can serve any more, with `reason`, and registers its CampaignStatusChanged.
 * Returns the ids it finished.
 */
export async function finishCampaignsThatCannotServe(tx: Tx, listIds: string[], reason: FinishReason, options: FinishOptions = {}): Promise<string[]> {
  if (listIds.length === 0) return [];
  const except = excluding(options.except);
  const ids = options.skipLocked ? await lockSkippingThenCheck(tx, listIds, except) : await lockThatCannotServe(tx, listIds, except);
  if (ids.length === 0) return [];
  await tx.query(
    `UPDATE campaigns SET status = 'FINISHED', finish_reason = ?, finished_at = UTC_TIMESTAMP(3), updated_at = UTC_TIMESTAMP(3)
      WHERE id IN (?) AND status = 'ACTIVE'`,
    [reason, ids],
  );
  if (options.webhookMessages ?? true) {
    const at = new Date();
    await writeWebhookMessages(tx, ids.map((id) => campaignFinishedMessage(id, reason, at)));
  }
  for (const id of ids) tx.publish(new CampaignStatusChanged(id, CampaignStatus.FINISHED, reason));
  return ids;
}

/** The campaigns a lock statement leaves out: its condition on `c` and that condition's parameter. */
interface Excluded {
  sql: string;
  params: unknown[];
}

function excluding(except: string[] | undefined): Excluded {
  return except === undefined || except.length === 0 ? { sql: '', params: [] } : { sql: ' AND c.id NOT IN (?)', params: [except] };
}

/** Waits for and locks the campaigns that cannot serve, in id order, in one statement. */
async function lockThatCannotServe(tx: Tx, listIds: string[], except: Excluded): Promise<string[]> {
  const rows: Array<{ id: string }> = await tx.query(
    `SELECT c.id FROM campaigns c
      WHERE c.status = 'ACTIVE'${except.sql}
        AND c.id IN (SELECT campaign_id FROM campaign_lists WHERE list_id IN (?))
        AND NOT EXISTS (SELECT 1 FROM campaign_lists cl JOIN coupon_lists l ON l.id = cl.list_id
                         WHERE cl.campaign_id = c.id AND ${LIST_CAN_SERVE_SQL})
      ORDER BY c.id
      FOR UPDATE`,
    [...except.params, listIds],
  );
  return rows.map((row) => String(row.id));
}

/** Locks the campaigns of `listIds` no one else holds, then reads without locks which of them cannot serve. */
async function lockSkippingThenCheck(tx: Tx, listIds: string[], except: Excluded): Promise<string[]> {
  const locked: Array<{ id: string }> = await tx.query(
    `SELECT c.id FROM campaigns c
      WHERE c.status = 'ACTIVE'${except.sql}
        AND c.id IN (SELECT cl.campaign_id FROM campaign_lists cl WHERE cl.list_id IN (?))
      ORDER BY c.id
      FOR UPDATE SKIP LOCKED`,
    [...except.params, listIds],
  );
  if (locked.length === 0) return [];
  const finished: Array<{ id: string }> = await tx.query(
    `SELECT c.id FROM campaigns c
      WHERE c.id IN (?)
        AND NOT EXISTS (SELECT 1 FROM campaign_lists cl JOIN coupon_lists l ON l.id = cl.list_id
                         WHERE cl.campaign_id = c.id AND ${LIST_CAN_SERVE_SQL})`,
    [locked.map((row) => row.id)],
  );
  return finished.map((row) => String(row.id));
}
