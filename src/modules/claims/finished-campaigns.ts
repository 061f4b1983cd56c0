import type { AppContext } from '../../app-context.js';
import { BadUserInputError, CampaignFinishedError } from '../../common/errors.js';
import { CampaignStatus, type FinishReason } from '../campaigns/campaign.entity.js';
import { CampaignStatusChanged } from '../campaigns/campaign.events.js';
import { LiveTopic, type CampaignStatusMessage } from '../realtime/topics.js';
import type { ValidClaim } from './claim-allocation.js';
import { CLAIM_WINDOW_CONDITION, claimWindowParams } from './claim-batch.js';

/** Finished campaigns a process remembers; the oldest are forgotten beyond this (they then cost one transaction again). */
export const MAX_REMEMBERED_FINISHED = 10_000;

interface FinishedCampaign {
  reason: FinishReason | null;
  /** The campaign's lists (fixed at creation), read on the first refusal. */
  listIds: Promise<Set<string>> | null;
}

/** What a claim in a finished campaign comes to without a transaction. */
export type FinishedOutcome =
  | { kind: 'refused'; error: BadUserInputError | CampaignFinishedError }
  /** The user holds an open claim window: the claim engine hands the assignment back (and records the reuse). */
  | { kind: 'window' };

/**
 * The campaigns this process knows to be FINISHED, so that the claims of a flash sale that
 * come after the last code are refused without a transaction or any lock.
 *
 * Why a process-local memory is correct here: a FINISHED campaign never becomes ACTIVE again
 * (the contract), and its lists never change, so once known it stays true. It is learnt from
 * committed facts only: `CampaignStatusChanged` of this process (after COMMIT), the same event
 * from every other process through the Redis topic the live updates already use, and any claim
 * transaction that found the campaign finished (so a lost message costs one transaction).
 *
 * The refusal keeps the rules' precedence: a `listId` that is not one of the campaign's lists is
 * BAD_USER_INPUT; a user inside the claim window still gets the earlier assignment (those claims
 * go on to the claim engine, which records the reuse); everyone else gets CAMPAIGN_FINISHED. The
 * windows are read with one plain query per group of claims: no window of a finished campaign
 * can appear any more, so the read needs no lock.
 */
export class FinishedCampaigns {
  private readonly finished = new Map<string, FinishedCampaign>();
  private iterator: AsyncIterator<unknown> | null = null;

  constructor(private readonly app: AppContext) {}

  /** Listens to this process's events and to the other processes' (Redis). */
  start(): void {
    if (this.iterator) return;
    this.app.eventBus.on(CampaignStatusChanged, (event) => {
      if (event.status === CampaignStatus.FINISHED) this.markFinished(event.campaignId, event.finishReason);
    });
    const iterator = this.app.pubSub.subscribe(LiveTopic.CAMPAIGN_STATUS)[Symbol.asyncIterator]();
    this.iterator = iterator;
    void (async () => {
      for (;;) {
        const result = await iterator.next();
        if (result.done) return;
        const message = result.value as CampaignStatusMessage;
        if (message?.status === CampaignStatus.FINISHED) this.markFinished(String(message.id), message.finishReason);
      }
    })().catch((error: unknown) => this.app.logger.warn({ err: error }, 'finished-campaign messages no longer received; claims still refuse through transactions'));
    this.app.onShutdown(() => this.stop());
  }

  async stop(): Promise<void> {
    const iterator = this.iterator;
    this.iterator = null;
    await iterator?.return?.().catch(() => undefined);
  }

  isFinished(campaignId: string): boolean {
    return this.finished.has(campaignId);
  }

  markFinished(campaignId: string, reason: FinishReason | null): void {
    if (this.finished.has(campaignId)) return;
    if (this.finished.size >= MAX_REMEMBERED_FINISHED) this.finished.delete(this.finished.keys().next().value!);
    this.finished.set(campaignId, { reason, listIds: null });
  }

  /** Outcomes for claims of one finished campaign, in order: one or two plain reads, no transaction. */
  async answer(campaignId: string, claims: ValidClaim[]): Promise<FinishedOutcome[]> {
    const campaign = this.finished.get(campaignId);
    if (!campaign) throw new Error(`campaign ${campaignId} is not known to be finished`);
    const listIds = await (campaign.listIds ??= this.readListIds(campaignId).catch((error: unknown) => {
      campaign.listIds = null;
      throw error;
    }));
    const badList = (claim: ValidClaim) => claim.listId !== null && !listIds.has(claim.listId);
    const users = [...new Set(claims.filter((claim) => !badList(claim)).map((claim) => claim.userId))];
    const inWindow = new Set<string>();
    if (users.length > 0) {
      const rows: Array<{ user_id: string }> = await this.app.dataSource.query(
        `SELECT DISTINCT a.user_id FROM coupon_assignments a FORCE INDEX (idx_coupon_assignments_user) WHERE ${CLAIM_WINDOW_CONDITION}`,
        claimWindowParams(campaignId, users, this.app.config.CLAIM_WINDOW_SECONDS),
      );
      for (const row of rows) inWindow.add(row.user_id);
    }
    return claims.map((claim): FinishedOutcome => {
      if (badList(claim)) {
        return { kind: 'refused', error: new BadUserInputError('input.listId', `list ${claim.listId} is not one of campaign ${campaignId}'s lists`) };
      }
      if (inWindow.has(claim.userId)) return { kind: 'window' };
      return { kind: 'refused', error: new CampaignFinishedError(campaignId, campaign.reason) };
    });
  }

  private async readListIds(campaignId: string): Promise<Set<string>> {
    const rows: Array<{ list_id: string }> = await this.app.dataSource.query('SELECT list_id FROM campaign_lists WHERE campaign_id = ?', [campaignId]);
    return new Set(rows.map((row) => String(row.list_id)));
  }
}
