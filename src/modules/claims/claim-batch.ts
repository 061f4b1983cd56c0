import { v7 as uuidv7 } from 'uuid';
import {
  BadUserInputError,
  CampaignFinishedError,
  ListExhaustedError,
  ListExpiredError,
  NotFoundError,
  type DomainError,
} from '../../common/errors.js';
import { WriteConflictError, type Tx } from '../../infra/db/transaction.js';
import { CampaignStatus, FinishReason } from '../campaigns/campaign.entity.js';
import { finishCampaignsThatCannotServe, finishCampaignWrite } from '../campaigns/campaign-finishing.js';
import { CouponListKind } from '../lists/coupon-list.entity.js';
import { CouponListStockChanged } from '../lists/coupon-list.events.js';
import { listClaimMovesWrite, snapshotOf, type ListClaimMove } from '../lists/list-rows.js';
import { writeWebhookDeliveries } from '../webhooks/webhook-outbox.js';
import { SUBSCRIBERS_SQL, webhookSubscribers } from '../webhooks/webhook-subscriptions.js';
import { CouponAssignmentsReused, CouponsAssigned, type NewAssignment } from './claim.events.js';
import { claimBatchWebhookMessages } from './claim-webhooks.js';
import type { CouponAssignment } from './coupon-assignment.entity.js';

/** A claim whose input has been checked; ids are well-formed row ids. */
export interface ValidClaim {
  campaignId: string;
  userId: string;
  externalId: string | null;
  listId: string | null;
}

/** What one claim of a batch came to: an assignment (new or reused) or a domain refusal. */
export type ClaimOutcome = { assignment: CouponAssignment } | { error: DomainError };

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
  position: number;
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

/** A campaign list as the batch sees it while holding its row lock. */
export interface ListState {
  row: ListRow;
  position: number;
  expired: boolean;
  /** Codes the list can still hand out before this batch (exact counters). */
  available: number;
  /** Code rows read for this batch (UNIQUE lists), in seq order. */
  codes: CodeRow[];
}

/** Where one claim goes in the allocation pass. */
export type Plan =
  | { kind: 'new'; list: ListState; slot: number }
  | { kind: 'reuse-stored'; window: WindowRow }
  | { kind: 'reuse-batch'; of: number }
  | { kind: 'error'; error: DomainError };

/**
 * The next claimable codes of a list: a range on the primary key (list_id, seq) that starts at the
 * cursor, so used rows are never walked. FORCE INDEX because MariaDB may otherwise pick the
 * (list_id, code) index and scan every used row of a big list.
 */
export const CODE_READ_SQL =
  'SELECT list_id, seq, code FROM coupon_codes FORCE INDEX (PRIMARY) WHERE list_id = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?';

/**
 * The open claim windows of some users in one campaign: their assignments of the campaign made
 * within the window, found by KEY (user_id, assigned_at). A new assignment is the user's window;
 * nothing else is written for it. A condition on `coupon_assignments a` (read it with FORCE INDEX
 * (idx_coupon_assignments_user)); parameters from claimWindowParams.
 */
export const CLAIM_WINDOW_CONDITION = 'a.user_id IN (?) AND a.assigned_at > DATE_SUB(UTC_TIMESTAMP(3), INTERVAL ? MICROSECOND) AND a.campaign_id = ?';

export function claimWindowParams(campaignId: string, users: string[], windowSeconds: number): unknown[] {
  return [users, Math.round(windowSeconds * 1_000_000), campaignId];
}

/** One statement of the batch's writes; `rows`: how many rows it must change, or the batch is retried. */
interface Write {
  sql: string;
  params: unknown[];
  rows?: number;
}

/**
 * Runs one batch of claims of ONE campaign inside the caller's transaction (READ COMMITTED) and
 * returns one outcome per claim, in order. Events are registered on `tx` and go out after COMMIT.
 *
 * Every statement is its own round trip. On Galera a transaction aborted by another node's write
 * in the middle of a multi-statement round trip rolls back the statements before the abort
 * while the later ones run on their own and commit; one statement per round trip turns such an
 * abort into an error of that statement, and the whole batch is retried.
 *
 * Why it is correct:
 * - The campaign row is locked first (`FOR UPDATE`): batches of one campaign, in any process,
 *   run one after another, so reading the users' open claim windows (their assignments of this
 *   campaign within CLAIM_WINDOW_SECONDS) and then adding assignments cannot race.
 * - The campaign's lists are locked in the same statement, in id order (the same order for
 *   every campaign sharing a list, so batches do not deadlock each other). Holding a list's
 *   lock, the batch owns its counters and its claimable range `claim_cursor < seq <= visible_seq`.
 * - Counters and cursors move by a guarded update (`WHERE claim_cursor = <read> AND
 *   assigned_codes = <read>`) that must change exactly one row per list: a write lost or applied
 *   out of turn anywhere makes the batch retry instead of wedging the list.
 * - UNIQUE(list_id, code_seq) on coupon_assignments refuses any second assignment of a code row.
 */
export async function runClaimBatch(tx: Tx, campaignId: string, claims: ValidClaim[], windowSeconds: number): Promise<ClaimOutcome[]> {
  const users = [...new Set(claims.map((claim) => claim.userId))];
  // Round trip 1: lock the campaign, then (only while it is ACTIVE) its lists in id order: the
  // join walks campaign_lists' primary key (campaign_id, list_id) and locks each list as it goes.
  const lockedRows: Array<CampaignRow & Partial<ListRow>> = await tx.query(
    `SELECT STRAIGHT_JOIN c.status, c.finish_reason, UTC_TIMESTAMP(3) AS now, cl.list_id, cl.position,
            l.id, l.name, l.kind, l.fixed_code, l.total_codes, l.assigned_codes, l.warning_limit, l.expires_at, l.claim_cursor, l.visible_seq
       FROM campaigns c
       LEFT JOIN campaign_lists cl ON cl.campaign_id = c.id
       LEFT JOIN coupon_lists l ON l.id = cl.list_id AND c.status = 'ACTIVE'
      WHERE c.id = ?
      ORDER BY cl.list_id
      FOR UPDATE`,
    [campaignId],
  );
  const campaignRows: CampaignRow[] = lockedRows;
  const listRows = lockedRows.filter((row) => row.id !== null && row.id !== undefined) as unknown as ListRow[];

  // Round trip 2: the open windows of the batch's users (race-free under the campaign lock), the
  // codes the batch most likely needs and the webhook event types anyone subscribes to, in one
  // statement.
  const likely = likelyCodeReads(listRows, claims);
  const readRows: Array<{ k: 'w' | 'c' | 's' } & WindowRow & CodeRow> = campaignRows.length === 0 ? [] : await tx.query(
    [
      // The users' assignments of this campaign made within the window.
      `SELECT STRAIGHT_JOIN 'w' AS k, a.id, a.list_id, a.code, a.user_id, a.external_id, a.assigned_at, l.expires_at, NULL AS seq
         FROM coupon_assignments a FORCE INDEX (idx_coupon_assignments_user)
         JOIN coupon_lists l ON l.id = a.list_id
        WHERE ${CLAIM_WINDOW_CONDITION}`,
      ...likely.map(() => `(SELECT 'c' AS k, NULL, list_id, code, NULL, NULL, NULL, NULL, seq FROM coupon_codes FORCE INDEX (PRIMARY)
          WHERE list_id = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?)`),
      `SELECT 's', subscribed.endpoint_id, NULL, subscribed.event, NULL, NULL, NULL, NULL, NULL FROM (${SUBSCRIBERS_SQL}) subscribed`,
    ].join(' UNION ALL '),
    [...claimWindowParams(campaignId, users, windowSeconds), ...likely.flatMap((read) => [read.listId, read.after, read.upto, read.count])],
  );
  const windowRows = readRows.filter((row) => row.k === 'w');
  const likelyCodes = readRows.filter((row) => row.k === 'c');
  const subscribers = webhookSubscribers(readRows.filter((row) => row.k === 's').map((row) => ({ endpointId: row.id, event: row.code })));
  if (campaignRows.length === 0) {
    return claims.map(() => ({ error: new NotFoundError('Campaign', campaignId) }));
  }
  const campaign = campaignRows[0];
  const now = campaign.now;
  const memberIds = new Set(campaignRows.filter((row) => row.list_id !== null).map((row) => String(row.list_id)));
  const active = campaign.status === CampaignStatus.ACTIVE;

  const lists = new Map<string, ListState>();
  for (const row of listRows) {
    const id = String(row.id);
    row.id = id;
    lists.set(id, {
      row,
      position: Number(row.position),
      expired: row.expires_at !== null && row.expires_at.getTime() <= now.getTime(),
      available: Math.max(0, row.total_codes - row.assigned_codes),
      codes: [],
    });
  }
  const byPosition = [...lists.values()].sort((a, b) => a.position - b.position);
  const windows = new Map<string, WindowRow>();
  // A user's window is its newest assignment (a longer CLAIM_WINDOW_SECONDS may reach back to older ones).
  for (const row of windowRows) {
    const seen = windows.get(row.user_id);
    if (!seen || row.assigned_at.getTime() > seen.assigned_at.getTime() || (row.assigned_at.getTime() === seen.assigned_at.getTime() && row.id > seen.id)) {
      windows.set(row.user_id, { ...row, list_id: String(row.list_id) });
    }
  }
  for (const row of likelyCodes) lists.get(String(row.list_id))?.codes.push({ list_id: String(row.list_id), seq: String(row.seq), code: row.code });

  // Allocation: pure, repeated if a list turns out to hold fewer code rows than its counters say.
  let plans = allocate(claims, campaignId, campaign, memberIds, lists, byPosition, windows);
  for (;;) {
    const wanted = new Map<ListState, number>();
    for (const plan of plans) if (plan.kind === 'new') wanted.set(plan.list, Math.max(wanted.get(plan.list) ?? 0, plan.slot + 1));
    const reads: Array<{ list: ListState; count: number }> = [];
    for (const [list, count] of wanted) {
      if (list.row.kind === CouponListKind.UNIQUE && list.codes.length < count) reads.push({ list, count: count - list.codes.length });
    }
    if (reads.length === 0) break;
    const params: unknown[] = [];
    for (const { list, count } of reads) {
      const after = list.codes.length > 0 ? list.codes[list.codes.length - 1].seq : list.row.claim_cursor;
      params.push(list.row.id, Number(after), Number(list.row.visible_seq), count);
    }
    const codeRows: CodeRow[] = await tx.query(reads.map(() => `(${CODE_READ_SQL})`).join(' UNION ALL '), params);
    let short = false;
    for (const { list, count } of reads) {
      const got = codeRows.filter((row) => String(row.list_id) === list.row.id);
      list.codes.push(...got);
      if (got.length < count) {
        // The counters promised more rows than are claimable: trust the rows.
        list.available = list.codes.length;
        short = true;
      }
    }
    if (!short) break;
    plans = allocate(claims, campaignId, campaign, memberIds, lists, byPosition, windows);
  }

  // Build the answers and the rows to write.
  const outcomes: ClaimOutcome[] = [];
  const inserts: unknown[][] = [];
  const newAssignments: NewAssignment[] = [];
  const reuses: Array<{ assignmentId: string; campaignId: string; userId: string; at: Date }> = [];
  const taken = new Map<ListState, number>();
  plans.forEach((plan, index) => {
    const claim = claims[index];
    if (plan.kind === 'error') {
      outcomes.push({ error: plan.error });
    } else if (plan.kind === 'new') {
      const list = plan.list;
      const code = list.row.kind === CouponListKind.UNIQUE ? list.codes[plan.slot] : null;
      const assignment: CouponAssignment = {
        id: uuidv7(),
        code: code ? code.code : list.row.fixed_code!,
        listId: list.row.id,
        campaignId,
        codeSeq: code ? String(code.seq) : null,
        userId: claim.userId,
        externalId: claim.externalId,
        assignedAt: now,
        expiresAt: list.row.expires_at,
        reused: false,
      };
      taken.set(list, Math.max(taken.get(list) ?? 0, plan.slot + 1));
      inserts.push([assignment.id, list.row.id, campaignId, assignment.codeSeq, assignment.code, claim.userId, claim.externalId, now]);
      newAssignments.push({
        id: assignment.id,
        listId: assignment.listId,
        campaignId,
        userId: assignment.userId,
        externalId: assignment.externalId,
        code: assignment.code,
        assignedAt: now,
        expiresAt: assignment.expiresAt,
      });
      outcomes.push({ assignment });
    } else {
      const original =
        plan.kind === 'reuse-stored' ? storedAssignment(plan.window, campaignId) : (outcomes[plan.of] as { assignment: CouponAssignment }).assignment;
      outcomes.push({ assignment: { ...original, reused: true } });
      reuses.push({ assignmentId: original.id, campaignId, userId: claim.userId, at: now });
    }
  });

  // The writes, one statement per round trip, in this order.
  const writes: Write[] = [];
  if (inserts.length > 0) {
    // The assignment is also the user's claim window: nothing else to write for it.
    writes.push({ sql: 'INSERT INTO coupon_assignments (id, list_id, campaign_id, code_seq, code, user_id, external_id, assigned_at) VALUES ?', params: [inserts] });
  }
  if (reuses.length > 0) {
    writes.push({ sql: 'INSERT INTO assignment_reuses (assignment_id, reused_at) VALUES ?', params: [reuses.map((reuse) => [reuse.assignmentId, now])] });
  }
  const exhaustedLists: string[] = [];
  const moves: ListClaimMove[] = [];
  const finishedCampaigns: Array<{ id: string; reason: FinishReason }> = [];
  for (const [list, count] of taken) {
    const row = list.row;
    const cursor = row.kind === CouponListKind.UNIQUE ? list.codes[count - 1].seq : row.claim_cursor;
    moves.push({ id: row.id, fromCursor: String(row.claim_cursor), toCursor: String(cursor), fromAssigned: row.assigned_codes, count });
    row.assigned_codes += count;
    row.claim_cursor = String(cursor);
    list.available -= count;
    if (list.available <= 0) exhaustedLists.push(row.id);
    const figures = { id: row.id, name: row.name, totalCodes: row.total_codes, assignedCodes: row.assigned_codes, warningLimit: row.warning_limit, expiresAt: row.expires_at };
    tx.publish(new CouponListStockChanged(snapshotOf(figures, now)));
  }
  if (moves.length > 0) writes.push(listClaimMovesWrite(moves));
  // A campaign finishes the moment none of its lists can hand out a code.
  if (active && !byPosition.some((list) => canServe(list))) {
    const reason = byPosition.length > 0 && byPosition.every((list) => list.expired) ? FinishReason.LIST_EXPIRED : FinishReason.LIST_EXHAUSTED;
    writes.push(finishCampaignWrite(tx, campaignId, reason, now));
    finishedCampaigns.push({ id: campaignId, reason });
  }
  for (const write of writes) {
    const result: { affectedRows?: number } = await tx.query(write.sql, write.params);
    if (write.rows !== undefined && result.affectedRows !== write.rows) {
      throw new WriteConflictError(`claim batch of campaign ${campaignId}: ${result.affectedRows} of ${write.rows} list rows were where this batch read them`);
    }
  }
  if (exhaustedLists.length > 0) {
    // Other campaigns drawing from these lists; their webhook messages go out with the batch's.
    const others = await finishCampaignsThatCannotServe(tx, exhaustedLists, FinishReason.LIST_EXHAUSTED, { except: campaignId, skipLocked: true, webhookMessages: false });
    for (const id of others) finishedCampaigns.push({ id, reason: FinishReason.LIST_EXHAUSTED });
  }
  // The batch's webhook messages that some endpoint subscribes to, with their deliveries to those
  // endpoints: two multi-row inserts inside this transaction (none at all without endpoints).
  if (subscribers.size > 0) {
    const exhausted = exhaustedLists.map((id) => lists.get(id)!.row);
    await writeWebhookDeliveries(
      tx,
      subscribers,
      claimBatchWebhookMessages(
        subscribers,
        newAssignments,
        exhausted.map((row) => ({ id: row.id, name: row.name, totalCodes: row.total_codes, assignedCodes: row.assigned_codes })),
        finishedCampaigns,
        now,
      ),
    );
  }

  if (newAssignments.length > 0) tx.publish(new CouponsAssigned(newAssignments));
  if (reuses.length > 0) tx.publish(new CouponAssignmentsReused(reuses));
  return outcomes;
}

/**
 * The first reads of a batch, done together with the window read: for the campaign's first
 * UNIQUE list (by position) that can serve, and for each UNIQUE list named by a claim, as many
 * codes after its cursor as claims of the batch may go there.
 */
function likelyCodeReads(listRows: ListRow[], claims: ValidClaim[]): Array<{ listId: string; after: string; upto: string; count: number }> {
  const now = Date.now();
  const serves = (row: ListRow) => row.total_codes > row.assigned_codes && (row.expires_at === null || row.expires_at.getTime() > now);
  const wanted = new Map<string, number>();
  const first = [...listRows].sort((a, b) => Number(a.position) - Number(b.position)).find((row) => serves(row));
  const unnamed = claims.filter((claim) => claim.listId === null).length;
  if (first && first.kind === CouponListKind.UNIQUE && unnamed > 0) wanted.set(String(first.id), unnamed);
  for (const claim of claims) {
    if (claim.listId !== null) wanted.set(claim.listId, (wanted.get(claim.listId) ?? 0) + 1);
  }
  const reads: Array<{ listId: string; after: string; upto: string; count: number }> = [];
  for (const row of listRows) {
    const count = wanted.get(String(row.id));
    if (!count || row.kind !== CouponListKind.UNIQUE || !serves(row)) continue;
    reads.push({ listId: String(row.id), after: String(row.claim_cursor), upto: String(row.visible_seq), count: Math.min(count, row.total_codes - row.assigned_codes) });
  }
  return reads;
}

function canServe(list: ListState): boolean {
  return !list.expired && list.available > 0;
}

function storedAssignment(window: WindowRow, campaignId: string): CouponAssignment {
  return {
    id: window.id,
    code: window.code,
    listId: window.list_id,
    campaignId,
    codeSeq: null,
    userId: window.user_id,
    externalId: window.external_id,
    assignedAt: window.assigned_at,
    expiresAt: window.expires_at,
    reused: true,
  };
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
