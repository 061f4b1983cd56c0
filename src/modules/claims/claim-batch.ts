import { v7 as uuidv7 } from 'uuid';
import { NotFoundError, type DomainError } from '../../common/errors.js';
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
import { allocate, canServe, type CampaignRow, type CodeRow, type ListRow, type ListState, type Plan, type ValidClaim, type WindowRow } from './claim-allocation.js';
import type { CouponAssignment } from './coupon-assignment.entity.js';

/** What one claim of a batch came to: an assignment (new or reused) or a domain refusal. */
export type ClaimOutcome = { assignment: CouponAssignment } | { error: DomainError };

/** The claims of one campaign in a batch. */
export interface CampaignClaims {
  campaignId: string;
  claims: ValidClaim[];
}

/**
 * The next claimable codes of a list: a range on the primary key (list_id, seq) that starts at the
 * cursor, so used rows are never walked. FORCE INDEX because MariaDB may otherwise pick the
 * (list_id, code) index and scan every used row of a big list.
 */
export const CODE_READ_SQL =
  'SELECT list_id, seq, code FROM coupon_codes FORCE INDEX (PRIMARY) WHERE list_id = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?';

/**
 * The open claim windows of some users in some campaigns: their assignments of those campaigns
 * made within the window, found by KEY (user_id, assigned_at). A new assignment is the user's
 * window; nothing else is written for it. A condition on `coupon_assignments a` (read it with
 * FORCE INDEX (idx_coupon_assignments_user)); parameters from claimWindowParams.
 */
export const CLAIM_WINDOW_CONDITION = 'a.user_id IN (?) AND a.assigned_at > DATE_SUB(UTC_TIMESTAMP(3), INTERVAL ? MICROSECOND) AND a.campaign_id IN (?)';

export function claimWindowParams(campaignIds: string | string[], users: string[], windowSeconds: number): unknown[] {
  return [users, Math.round(windowSeconds * 1_000_000), campaignIds];
}

/** One statement of the batch's writes; `rows`: how many rows it must change, or the batch is retried. */
interface Write {
  sql: string;
  params: unknown[];
  rows?: number;
}

const LIST_COLUMNS = 'l.id, l.name, l.kind, l.fixed_code, l.total_codes, l.assigned_codes, l.warning_limit, l.expires_at, l.claim_cursor, l.visible_seq';

/** A campaign of the batch as read under its lock. */
interface LockedCampaign {
  row: CampaignRow;
  /** Its lists (all of them, also when it is not ACTIVE), with their positions in it. */
  members: Array<{ listId: string; position: number }>;
}

/**
 * Locks the batch's campaigns, then the lists of those that are ACTIVE: campaigns before lists,
 * each in id order, the one order every claim transaction takes them in (batches sharing a list
 * or a campaign wait for each other, never deadlock). One campaign: one statement, whose join walks
 * campaign_lists' primary key (campaign_id, list_id) and locks each list as it goes. Several: one
 * statement for the campaigns, one for their lists.
 */
async function lockCampaignsAndLists(tx: Tx, campaignIds: string[]): Promise<{ campaigns: Map<string, LockedCampaign>; lists: ListRow[] }> {
  const campaigns = new Map<string, LockedCampaign>();
  const add = (row: CampaignRow & { campaign_id: string; position: number | null }) => {
    const id = String(row.campaign_id);
    let campaign = campaigns.get(id);
    if (!campaign) campaigns.set(id, (campaign = { row, members: [] }));
    if (row.list_id !== null) campaign.members.push({ listId: String(row.list_id), position: Number(row.position) });
  };
  if (campaignIds.length === 1) {
    const rows: Array<CampaignRow & { campaign_id: string; position: number | null } & Partial<ListRow>> = await tx.query(
      `SELECT STRAIGHT_JOIN c.id AS campaign_id, c.status, c.finish_reason, UTC_TIMESTAMP(3) AS now, cl.list_id, cl.position, ${LIST_COLUMNS}
         FROM campaigns c
         LEFT JOIN campaign_lists cl ON cl.campaign_id = c.id
         LEFT JOIN coupon_lists l ON l.id = cl.list_id AND c.status = 'ACTIVE'
        WHERE c.id = ?
        ORDER BY cl.list_id
        FOR UPDATE`,
      campaignIds,
    );
    rows.forEach(add);
    return { campaigns, lists: rows.filter((row) => row.id !== null && row.id !== undefined) as unknown as ListRow[] };
  }
  const rows: Array<CampaignRow & { campaign_id: string; position: number | null }> = await tx.query(
    `SELECT STRAIGHT_JOIN c.id AS campaign_id, c.status, c.finish_reason, UTC_TIMESTAMP(3) AS now, cl.list_id, cl.position
       FROM campaigns c
       LEFT JOIN campaign_lists cl ON cl.campaign_id = c.id
      WHERE c.id IN (?)
      ORDER BY c.id, cl.list_id
      FOR UPDATE`,
    [campaignIds],
  );
  rows.forEach(add);
  const listIds = new Set<string>();
  for (const campaign of campaigns.values()) {
    if (campaign.row.status === CampaignStatus.ACTIVE) for (const member of campaign.members) listIds.add(member.listId);
  }
  if (listIds.size === 0) return { campaigns, lists: [] };
  // A range on the primary key: rows are locked in id order.
  const lists: ListRow[] = await tx.query(`SELECT ${LIST_COLUMNS} FROM coupon_lists l WHERE l.id IN (?) ORDER BY l.id FOR UPDATE`, [[...listIds]]);
  return { campaigns, lists };
}

/**
 * Runs one batch of claims of one or more campaigns inside the caller's transaction (READ
 * COMMITTED) and returns, for each campaign, one outcome per claim, in order. Events are
 * registered on `tx` and go out after COMMIT. Many campaigns claimed at once share one
 * transaction, and its statements: a campaign with a few claims in flight costs a few rows, not
 * a transaction of its own.
 *
 * Every statement is its own round trip. On Galera a transaction aborted by another node's write
 * in the middle of a multi-statement round trip rolls back the statements before the abort
 * while the later ones run on their own and commit; one statement per round trip turns such an
 * abort into an error of that statement, and the whole batch is retried.
 *
 * Why it is correct:
 * - The campaign rows are locked first (`FOR UPDATE`): batches of one campaign, in any process,
 *   run one after another, so reading the users' open claim windows (their assignments of this
 *   campaign within CLAIM_WINDOW_SECONDS) and then adding assignments cannot race.
 * - The lists of the ACTIVE campaigns are locked next, in id order (see lockCampaignsAndLists).
 *   Holding a list's lock, the batch owns its counters and its claimable range
 *   `claim_cursor < seq <= visible_seq`; campaigns of the batch sharing a list take its codes one
 *   after another.
 * - Counters and cursors move by a guarded update (`WHERE claim_cursor = <read> AND
 *   assigned_codes = <read>`) that must change exactly one row per list: a write lost or applied
 *   out of turn anywhere makes the batch retry instead of wedging the list.
 * - UNIQUE(list_id, code_seq) on coupon_assignments refuses any second assignment of a code row.
 */
export async function runClaimBatch(tx: Tx, batch: CampaignClaims[], windowSeconds: number): Promise<ClaimOutcome[][]> {
  const campaignIds = [...new Set(batch.map((group) => group.campaignId))];
  if (campaignIds.length !== batch.length) throw new Error('a claim batch holds each campaign once');
  // Round trip 1 (2 for several campaigns): the locks.
  const locked = await lockCampaignsAndLists(tx, campaignIds);
  const lists = new Map<string, ListState>();
  // The database's clock, read by the lock statement (the same for every campaign of the batch).
  const now: Date = locked.campaigns.values().next().value?.row.now ?? new Date();
  for (const row of locked.lists) {
    const id = String(row.id);
    row.id = id;
    lists.set(id, {
      row,
      expired: row.expires_at !== null && row.expires_at.getTime() <= now.getTime(),
      available: Math.max(0, row.total_codes - row.assigned_codes),
      codes: [],
      read: { cursor: String(row.claim_cursor), assigned: row.assigned_codes },
      taken: 0,
    });
  }
  // Each campaign's lists in its order (a list shared by two campaigns may sit at different positions).
  const ordered = new Map<string, ListState[]>();
  for (const [id, campaign] of locked.campaigns) {
    const members = [...campaign.members].sort((a, b) => a.position - b.position);
    ordered.set(id, members.flatMap((member) => lists.get(member.listId) ?? []));
  }

  // Round trip 2: the open windows of the batch's users (race-free under the campaign locks), the
  // codes the batch most likely needs and the webhook event types anyone subscribes to, in one
  // statement.
  const users = [...new Set(batch.flatMap((group) => group.claims.map((claim) => claim.userId)))];
  const likely = likelyCodeReads(batch, ordered);
  const readRows: Array<{ k: 'w' | 'c' | 's'; campaign_id: string | null } & WindowRow & CodeRow> = locked.campaigns.size === 0 ? [] : await tx.query(
    [
      // The users' assignments of these campaigns made within the window.
      `SELECT STRAIGHT_JOIN 'w' AS k, a.id, a.list_id, a.code, a.user_id, a.external_id, a.assigned_at, l.expires_at, NULL AS seq, a.campaign_id
         FROM coupon_assignments a FORCE INDEX (idx_coupon_assignments_user)
         JOIN coupon_lists l ON l.id = a.list_id
        WHERE ${CLAIM_WINDOW_CONDITION}`,
      ...likely.map(() => `(SELECT 'c' AS k, NULL, list_id, code, NULL, NULL, NULL, NULL, seq, NULL FROM coupon_codes FORCE INDEX (PRIMARY)
          WHERE list_id = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?)`),
      `SELECT 's', subscribed.endpoint_id, NULL, subscribed.event, NULL, NULL, NULL, NULL, NULL, NULL FROM (${SUBSCRIBERS_SQL}) subscribed`,
    ].join(' UNION ALL '),
    [...claimWindowParams([...locked.campaigns.keys()], users, windowSeconds), ...likely.flatMap((read) => [read.listId, read.after, read.upto, read.count])],
  );
  const subscribers = webhookSubscribers(readRows.filter((row) => row.k === 's').map((row) => ({ endpointId: row.id, event: row.code })));
  // A user's window in a campaign is its newest assignment there (a longer CLAIM_WINDOW_SECONDS may reach back to older ones).
  const windows = new Map<string, Map<string, WindowRow>>();
  for (const row of readRows) {
    if (row.k === 'c') lists.get(String(row.list_id))?.codes.push({ list_id: String(row.list_id), seq: String(row.seq), code: row.code });
    if (row.k !== 'w') continue;
    const campaignId = String(row.campaign_id);
    let byUser = windows.get(campaignId);
    if (!byUser) windows.set(campaignId, (byUser = new Map()));
    const seen = byUser.get(row.user_id);
    if (!seen || row.assigned_at.getTime() > seen.assigned_at.getTime() || (row.assigned_at.getTime() === seen.assigned_at.getTime() && row.id > seen.id)) {
      byUser.set(row.user_id, {
        id: row.id,
        list_id: String(row.list_id),
        code: row.code,
        user_id: row.user_id,
        external_id: row.external_id,
        assigned_at: row.assigned_at,
        expires_at: row.expires_at,
      });
    }
  }

  // Each campaign in turn: allocation (pure), more code reads if a list holds fewer rows than
  // its counters say, then its answers; the codes it took are gone for the next campaign.
  const results: ClaimOutcome[][] = [];
  const inserts: unknown[][] = [];
  const newAssignments: NewAssignment[] = [];
  const reuses: Array<{ assignmentId: string; campaignId: string; userId: string; at: Date }> = [];
  for (const { campaignId, claims } of batch) {
    const campaign = locked.campaigns.get(campaignId);
    if (!campaign) {
      results.push(claims.map(() => ({ error: new NotFoundError('Campaign', campaignId) })));
      continue;
    }
    const byPosition = ordered.get(campaignId)!;
    const memberIds = new Set(campaign.members.map((member) => member.listId));
    const members = new Map(byPosition.map((list) => [list.row.id, list]));
    const campaignWindows = windows.get(campaignId) ?? new Map<string, WindowRow>();
    const plans = await allocateReading(tx, () => allocate(claims, campaignId, campaign.row, memberIds, members, byPosition, campaignWindows));
    const outcomes: ClaimOutcome[] = [];
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
    for (const [list, count] of taken) {
      if (list.row.kind === CouponListKind.UNIQUE) list.row.claim_cursor = String(list.codes.splice(0, count)[count - 1].seq);
      list.row.assigned_codes += count;
      list.available -= count;
      list.taken += count;
    }
    results.push(outcomes);
  }

  // The writes, one statement per round trip, in this order.
  const writes: Write[] = [];
  if (inserts.length > 0) {
    // The assignment is also the user's claim window: nothing else to write for it.
    writes.push({ sql: 'INSERT INTO coupon_assignments (id, list_id, campaign_id, code_seq, code, user_id, external_id, assigned_at) VALUES ?', params: [inserts] });
  }
  if (reuses.length > 0) {
    writes.push({ sql: 'INSERT INTO assignment_reuses (assignment_id, reused_at) VALUES ?', params: [reuses.map((reuse) => [reuse.assignmentId, now])] });
  }
  const moves: ListClaimMove[] = [];
  const exhausted: ListRow[] = [];
  for (const list of lists.values()) {
    if (list.taken === 0) continue;
    const row = list.row;
    moves.push({ id: row.id, fromCursor: list.read.cursor, toCursor: String(row.claim_cursor), fromAssigned: list.read.assigned, count: list.taken });
    if (list.available <= 0) exhausted.push(row);
    const figures = { id: row.id, name: row.name, totalCodes: row.total_codes, assignedCodes: row.assigned_codes, warningLimit: row.warning_limit, expiresAt: row.expires_at };
    tx.publish(new CouponListStockChanged(snapshotOf(figures, now)));
  }
  if (moves.length > 0) writes.push(listClaimMovesWrite(moves));
  // A campaign finishes the moment none of its lists can hand out a code (also when another
  // campaign of the batch took the last one).
  const finishedCampaigns: Array<{ id: string; reason: FinishReason }> = [];
  for (const [id, campaign] of locked.campaigns) {
    const byPosition = ordered.get(id)!;
    if (campaign.row.status !== CampaignStatus.ACTIVE || byPosition.some((list) => canServe(list))) continue;
    const reason = byPosition.length > 0 && byPosition.every((list) => list.expired) ? FinishReason.LIST_EXPIRED : FinishReason.LIST_EXHAUSTED;
    writes.push(finishCampaignWrite(tx, id, reason, now));
    finishedCampaigns.push({ id, reason });
  }
  for (const write of writes) {
    const result: { affectedRows?: number } = await tx.query(write.sql, write.params);
    if (write.rows !== undefined && result.affectedRows !== write.rows) {
      throw new WriteConflictError(`claim batch of campaigns ${campaignIds.join(', ')}: ${result.affectedRows} of ${write.rows} list rows were where this batch read them`);
    }
  }
  if (exhausted.length > 0) {
    // Other campaigns drawing from these lists; their webhook messages go out with the batch's.
    const others = await finishCampaignsThatCannotServe(
      tx,
      exhausted.map((row) => row.id),
      FinishReason.LIST_EXHAUSTED,
      { except: campaignIds, skipLocked: true, webhookMessages: false },
    );
    for (const id of others) finishedCampaigns.push({ id, reason: FinishReason.LIST_EXHAUSTED });
  }
  // The batch's webhook messages that some endpoint subscribes to, with their deliveries to those
  // endpoints: two multi-row inserts inside this transaction (none at all without endpoints).
  if (subscribers.size > 0) {
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
  return results;
}

/**
 * Runs one campaign's allocation, reading more code rows while it places claims beyond the rows
 * read so far; repeated if a list turns out to hold fewer code rows than its counters say (the
 * rows are trusted then).
 */
async function allocateReading(tx: Tx, allocateNow: () => Plan[]): Promise<Plan[]> {
  let plans = allocateNow();
  for (;;) {
    const wanted = new Map<ListState, number>();
    for (const plan of plans) if (plan.kind === 'new') wanted.set(plan.list, Math.max(wanted.get(plan.list) ?? 0, plan.slot + 1));
    const reads: Array<{ list: ListState; count: number }> = [];
    for (const [list, count] of wanted) {
      if (list.row.kind === CouponListKind.UNIQUE && list.codes.length < count) reads.push({ list, count: count - list.codes.length });
    }
    if (reads.length === 0) return plans;
    const params: unknown[] = [];
    for (const { list, count } of reads) {
      const after = list.codes.length > 0 ? list.codes[list.codes.length - 1].seq : list.row.claim_cursor;
      params.push(list.row.id, Number(after), Number(list.row.visible_seq), count);
    }
    const codeRows: CodeRow[] = await tx.query(reads.map(() => `(${CODE_READ_SQL})`).join(' UNION ALL '), params);
    let short = false;
    for (const { list, count } of reads) {
      const got = codeRows.filter((row) => String(row.list_id) === list.row.id);
      list.codes.push(...got.map((row) => ({ list_id: String(row.list_id), seq: String(row.seq), code: row.code })));
      if (got.length < count) {
        list.available = list.codes.length;
        short = true;
      }
    }
    if (!short) return plans;
    plans = allocateNow();
  }
}

/**
 * The first code reads of a batch, done together with the window read: for each campaign's first
 * UNIQUE list (by position) that can serve, and for each UNIQUE list named by a claim, as many
 * codes after its cursor as claims of the batch may go there.
 */
function likelyCodeReads(batch: CampaignClaims[], ordered: Map<string, ListState[]>): Array<{ listId: string; after: string; upto: string; count: number }> {
  const wanted = new Map<ListState, number>();
  for (const { campaignId, claims } of batch) {
    const byPosition = ordered.get(campaignId);
    if (!byPosition) continue;
    const first = byPosition.find((list) => canServe(list));
    const unnamed = claims.filter((claim) => claim.listId === null).length;
    if (first && unnamed > 0) wanted.set(first, (wanted.get(first) ?? 0) + unnamed);
    for (const claim of claims) {
      const named = claim.listId === null ? undefined : byPosition.find((list) => list.row.id === claim.listId);
      if (named) wanted.set(named, (wanted.get(named) ?? 0) + 1);
    }
  }
  const reads: Array<{ listId: string; after: string; upto: string; count: number }> = [];
  for (const [list, count] of wanted) {
    if (list.row.kind !== CouponListKind.UNIQUE || !canServe(list)) continue;
    reads.push({ listId: list.row.id, after: String(list.row.claim_cursor), upto: String(list.row.visible_seq), count: Math.min(count, list.available) });
  }
  return reads;
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
