import {
  BadUserInputError,
  CampaignFinishedError,
  ListExhaustedError,
  ListExpiredError,
  type DomainError,
} from '../../common/errors.js';
import { CampaignStatus, type FinishReason } from '../campaigns/campaign.entity.js';
import type { CouponListKind } from '../lists/coupon-list.entity.js';

/**
 * What a claim batch decides once it holds its locks and has read its rows: which claim gets
 * which slot of which list, or which refusal. Pure: no statement, no event.
 */

/** A claim whose input has been checked; ids are well-formed row ids. */
export interface ValidClaim {
  campaignId: string;
  userId: string;
  externalId: string | null;
  listId: string | null;
}

export interface CampaignRow {
  status: CampaignStatus;
  finish_reason: FinishReason | null;
  now: Date;
  /** One row per list of the campaign. */
  list_id: string | null;
}

export interface ListRow {
  id: string;
  name: string;
  kind: CouponListKind;
  fixed_code: string | null;
  total_codes: number;
  assigned_codes: number;
  warning_limit: number | null;
  expires_at: Date | null;
  claim_cursor: string;
  visible_seq: string;
}

export interface WindowRow {
  id: string;
  list_id: string;
  code: string;
  user_id: string;
  external_id: string | null;
  assigned_at: Date;
  expires_at: Date | null;
}

export interface CodeRow {
  list_id: string;
  seq: string;
  code: string;
}

/**
 * A list as the batch sees it while holding its row lock. The campaigns of a batch hand out its
 * codes one after another: `row`, `available` and `codes` always say what is left for the next.
 */
export interface ListState {
  row: ListRow;
  expired: boolean;
  /** Codes the list can still hand out (exact counters, less what this batch took so far). */
  available: number;
  /** Code rows read for this batch and not yet handed out (UNIQUE lists), in seq order. */
  codes: CodeRow[];
  /** claim_cursor and assigned_codes as read under the lock: the guard of the list's move. */
  read: { cursor: string; assigned: number };
  /** Codes this batch handed out from the list. */
  taken: number;
}

/** Where one claim goes in the allocation pass. */
export type Plan =
  | { kind: 'new'; list: ListState; slot: number }
  | { kind: 'reuse-stored'; window: WindowRow }
  | { kind: 'reuse-batch'; of: number }
  | { kind: 'error'; error: DomainError };

/** Whether a list can still hand out a code. */
export function canServe(list: ListState): boolean {
  return !list.expired && list.available > 0;
}

/**
 * Decides each claim in arrival order. Precedence: bad input, then the window rule (a user
 * inside the window always gets the earlier assignment back, even from a finished campaign),
 * then CAMPAIGN_FINISHED, then the list's state (EXPIRED wins over EXHAUSTED).
 */
export function allocate(
  claims: ValidClaim[],
  campaignId: string,
  campaign: CampaignRow,
  memberIds: Set<string>,
  lists: Map<string, ListState>,
  byPosition: ListState[],
  windows: Map<string, WindowRow>,
): Plan[] {
  const used = new Map<ListState, number>();
  const remaining = (list: ListState) => list.available - (used.get(list) ?? 0);
  const firstNewOfUser = new Map<string, number>();
  return claims.map((claim, index): Plan => {
    if (claim.listId !== null && !memberIds.has(claim.listId)) {
      return { kind: 'error', error: new BadUserInputError('input.listId', `list ${claim.listId} is not one of campaign ${campaignId}'s lists`) };
    }
    const window = windows.get(claim.userId);
    if (window) return { kind: 'reuse-stored', window };
    const earlier = firstNewOfUser.get(claim.userId);
    if (earlier !== undefined) return { kind: 'reuse-batch', of: earlier };
    if (campaign.status !== CampaignStatus.ACTIVE) {
      return { kind: 'error', error: new CampaignFinishedError(campaignId, campaign.finish_reason) };
    }
    let list: ListState | undefined;
    if (claim.listId !== null) {
      list = lists.get(claim.listId)!;
      if (list.expired) return { kind: 'error', error: new ListExpiredError(list.row.id, list.row.name) };
      if (remaining(list) <= 0) return { kind: 'error', error: new ListExhaustedError(list.row.id, list.row.name) };
    } else {
      list = byPosition.find((candidate) => !candidate.expired && remaining(candidate) > 0);
      if (!list) {
        const allExpired = byPosition.every((candidate) => candidate.expired);
        const first = byPosition.find((candidate) => candidate.expired === allExpired) ?? byPosition[0];
        return {
          kind: 'error',
          error: allExpired ? new ListExpiredError(first.row.id, first.row.name) : new ListExhaustedError(first.row.id, first.row.name),
        };
      }
    }
    const slot = used.get(list) ?? 0;
    used.set(list, slot + 1);
    firstNewOfUser.set(claim.userId, index);
    return { kind: 'new', list, slot };
  });
}
