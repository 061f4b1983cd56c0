import type { AppContext } from '../../app-context.js';
import { binCollationKey } from '../../infra/db/bin-collation.js';
import { WriteConflictError, type Tx } from '../../infra/db/transaction.js';
import { assertCampaignAllowed } from '../auth/campaign-scope.js';
import type { Caller } from '../auth/caller.js';
import { addRedeemedCodes } from '../lists/list-rows.js';
import { writeWebhookDeliveries } from '../webhooks/webhook-outbox.js';
import { SUBSCRIBERS_SQL, webhookSubscribers, type WebhookSubscribers } from '../webhooks/webhook-subscriptions.js';
import { redeemedMessage } from './redemption-webhook.js';
import { redemptionFromRow, type Redemption } from './redemption.types.js';

/** A redemption whose input has been checked. */
export interface ValidRedemption {
  caller: Caller;
  code: string;
  userId: string;
  orderId: string | null;
  listId: string | null;
}

/** The user's assignments of a code, newest first, with the code's live redemption by the unique key (no lock). */
export interface CandidateRow {
  id: string;
  list_id: string;
  campaign_id: string;
  code: string;
  expired: number;
  name: string;
  assigned_at: Date;
  live_id: string | null;
  live_order_id: string | null;
  live_redeemed_at: Date | null;
}

/** Assignments of one code to one user considered (a FIXED code handed to them again and again). */
export const MAX_CANDIDATES = 50;

const CANDIDATE_COLUMNS = `a.id, a.list_id, a.campaign_id, a.code, a.user_id, a.assigned_at, l.name,
  (l.expires_at IS NOT NULL AND l.expires_at <= UTC_TIMESTAMP(3)) AS expired,
  r.id AS live_id, r.order_id AS live_order_id, r.redeemed_at AS live_redeemed_at`;
const CANDIDATE_TABLES = `coupon_assignments a FORCE INDEX (idx_coupon_assignments_user)
  STRAIGHT_JOIN coupon_lists l ON l.id = a.list_id
  LEFT JOIN coupon_redemptions r ON r.list_id = a.list_id AND r.code = a.code AND r.user_id = a.user_id AND r.live = 1`;
const compact = (sql: string) => sql.replace(/\s+/g, ' ');

/** The candidates of one redemption along KEY (user_id, assigned_at), newest first (built once; whitespace runs cut). */
export const candidatesSql = (withList: boolean): string => CANDIDATES_SQL[withList ? 'one' : 'any'];
const candidatesText = (withList: boolean) =>
  compact(`SELECT ${CANDIDATE_COLUMNS} FROM ${CANDIDATE_TABLES}
            WHERE a.user_id = ? AND a.code = ? ${withList ? 'AND a.list_id = ?' : ''}
            ORDER BY a.assigned_at DESC, a.id DESC LIMIT ${MAX_CANDIDATES}`);
const CANDIDATES_SQL = { any: candidatesText(false), one: candidatesText(true) };

/**
 * A batch's candidates in one statement: the assignments of its users (KEY (user_id,
 * assigned_at)) holding one of its codes (rows `c`; each entry takes its own user's rows of its
 * code), and the enabled webhook endpoints with the event types they subscribe to (rows `s`:
 * the endpoint in `id`, the event in `code`), read in the same consistent read.
 */
export const batchCandidatesSql = (users: number, codes: number): string =>
  compact(`SELECT 'c' AS k, ${CANDIDATE_COLUMNS} FROM ${CANDIDATE_TABLES} WHERE a.user_id IN (${placeholders(users)}) AND a.code IN (${placeholders(codes)})
           UNION ALL SELECT 's', subscribed.endpoint_id, NULL, NULL, subscribed.event, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM (${SUBSCRIBERS_SQL}) subscribed`);
const placeholders = (count: number) => Array.from({ length: count }, () => '?').join(', ');

export const candidateParams = (item: { userId: string; code: string; listId: string | null }) =>
  item.listId ? [item.userId, item.code, item.listId] : [item.userId, item.code];

const ER_DUP_ENTRY = 1062;

export const isDuplicate = (error: unknown) =>
  ((error as { errno?: number }).errno ?? (error as { driverError?: { errno?: number } }).driverError?.errno) === ER_DUP_ENTRY;

/** Redemptions per transaction at most. */
const MAX_BATCH = 64;
/** Batches in flight at once in one process (one fills while the other commits). */
const BATCHES_IN_FLIGHT = 2;

interface Pending {
  item: ValidRedemption;
  resolve(redemption: Redemption | null): void;
  reject(error: unknown): void;
}

/** The plain case of one entry: its newest assignment, to be redeemed in this batch. */
interface Planned {
  index: number;
  assignment: CandidateRow;
}

/** A duplicate key in the batch's insert: another redemption of one of its codes committed meanwhile. */
class BatchRaced extends Error {}

/**
 * Redemptions arriving together share one transaction: a read of every entry's candidates (and
 * of the webhook subscribers), one multi-row insert held by UNIQUE (list_id, code, user_id,
 * live), one read of the new ids, the outbox messages with their deliveries (when an endpoint
 * subscribes to coupon.redeemed) and the list counters, whatever the batch's size.
 *
 * Only the plain case is decided here (the user's code of one list, not redeemed, not expired,
 * allowed to the caller, not twice in the batch). Anything else is answered `null`: the caller
 * runs it on its own through the single path, which gives the exact error or the idempotent
 * answer. If the insert meets the unique key (a redemption raced in), the batch rolls back and
 * every entry takes the single path: the key decides, never the read.
 */
export class RedemptionBatcher {
  private pending: Pending[] = [];
  private inFlight = 0;
  private scheduled = false;
  private lastSize = 0;

  constructor(private readonly app: AppContext) {}

  /** The redemption made in a batch, or null: run it on the single path. */
  submit(item: ValidRedemption): Promise<Redemption | null> {
    return new Promise((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      this.schedule();
    });
  }

  /** A batch starts after the current turn of the event loop (requests of the same turn join it), if a slot is free. */
  private schedule(): void {
    if (this.scheduled || !this.mayStart()) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (!this.mayStart()) return;
      const batch = this.pending.splice(0, MAX_BATCH);
      this.lastSize = batch.length;
      this.inFlight++;
      this.run(batch)
        .then(
          (outcomes) => batch.forEach((pending, index) => pending.resolve(outcomes[index])),
          (error: unknown) => {
            if (error instanceof BatchRaced) return batch.forEach((pending) => pending.resolve(null));
            this.app.logger.warn({ err: error, size: batch.length }, 'redemption batch failed; its entries run one by one');
            batch.forEach((pending) => pending.resolve(null));
          },
        )
        .finally(() => {
          this.inFlight--;
          this.schedule();
        });
      this.schedule();
    });
  }

  /** A second batch joins a running one only once as many wait as it holds: smaller ones cost more than they save. */
  private mayStart(): boolean {
    if (this.pending.length === 0 || this.inFlight >= BATCHES_IN_FLIGHT) return false;
    return this.inFlight === 0 || this.pending.length >= this.lastSize;
  }

  private run(batch: Pending[]): Promise<Array<Redemption | null>> {
    const items = batch.map((pending) => pending.item);
    return this.app.transaction(async (tx) => {
      const { candidates, subscribers } = await readCandidates(tx, items);
      const outcomes: Array<Redemption | null> = items.map(() => null);
      const planned = plan(items, candidates);
      if (planned.length === 0) return outcomes;

      const redeemedAt = new Date();
      const rows = planned.map(({ index, assignment }) => [
        assignment.id, assignment.list_id, assignment.campaign_id, assignment.code, items[index].userId, items[index].orderId, redeemedAt, 1, items[index].caller.keyId,
      ]);
      let firstId: string;
      try {
        const result = await tx.query(
          'INSERT INTO coupon_redemptions (assignment_id, list_id, campaign_id, code, user_id, order_id, redeemed_at, live, requested_by) VALUES ?',
          [rows],
        );
        firstId = String(result.insertId);
      } catch (error) {
        if (isDuplicate(error)) throw new BatchRaced();
        throw error;
      }
      // One row: its id is the insert id. Several: read back (ids of a multi-row insert need not be consecutive).
      const ids = planned.length === 1 ? new Map([[planned[0].assignment.id, firstId]]) : await newIds(tx, planned);
      const redemptions = planned.map(({ index, assignment }) => {
        const id = ids.get(assignment.id);
        if (id === undefined) throw new WriteConflictError(`redemption of assignment ${assignment.id} not found after its insert`);
        const redemption = newRedemption(id, assignment, items[index].userId, items[index].orderId, redeemedAt);
        outcomes[index] = redemption;
        return redemption;
      });
      // With their deliveries to the endpoints read with the candidates (as claims do); nothing without a subscriber.
      await writeWebhookDeliveries(tx, subscribers, redemptions.map(redeemedMessage));
      // Last before COMMIT, in id order (as claims lock lists): the list rows are locked briefly.
      const perList = new Map<string, number>();
      for (const redemption of redemptions) perList.set(redemption.listId, (perList.get(redemption.listId) ?? 0) + 1);
      for (const listId of [...perList.keys()].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1))) await addRedeemedCodes(tx, listId, perList.get(listId)!);
      return outcomes;
    });
  }
}

/** A redemption just inserted for this assignment. */
export function newRedemption(id: string, assignment: CandidateRow, userId: string, orderId: string | null, redeemedAt: Date): Redemption {
  return redemptionFromRow({
    id,
    assignment_id: assignment.id,
    list_id: String(assignment.list_id),
    campaign_id: String(assignment.campaign_id),
    code: assignment.code,
    user_id: userId,
    order_id: orderId,
    redeemed_at: redeemedAt,
    undone_at: null,
  });
}

/**
 * Every entry's candidates in one round trip (a consistent read, no locks): as the single path
 * reads them (its list if named, newest first, at most MAX_CANDIDATES), matched to the entry by
 * user and code as the columns compare them (utf8mb4_bin); and the webhook subscribers.
 */
async function readCandidates(tx: Tx, items: ValidRedemption[]): Promise<{ candidates: CandidateRow[][]; subscribers: WebhookSubscribers }> {
  const users = [...new Set(items.map((item) => item.userId))];
  const codes = [...new Set(items.map((item) => item.code))];
  const rows: Array<CandidateRow & { k: 'c' | 's'; user_id: string }> = await tx.query(batchCandidatesSql(users.length, codes.length), [...users, ...codes]);
  const pair = (userId: string, code: string) => JSON.stringify([binCollationKey(userId), binCollationKey(code)]);
  const byPair = new Map<string, CandidateRow[]>();
  const subscriptions: Array<{ endpointId: string; event: string }> = [];
  for (const row of rows) {
    if (row.k === 's') {
      subscriptions.push({ endpointId: row.id, event: row.code });
      continue;
    }
    const key = pair(row.user_id, row.code);
    const same = byPair.get(key);
    if (same) same.push(row);
    else byPair.set(key, [row]);
  }
  const newestFirst = (a: CandidateRow, b: CandidateRow) => b.assigned_at.getTime() - a.assigned_at.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
  const candidates = items.map((item) => {
    const own = (byPair.get(pair(item.userId, item.code)) ?? []).filter((row) => item.listId === null || String(row.list_id) === item.listId);
    return own.sort(newestFirst).slice(0, MAX_CANDIDATES);
  });
  return { candidates, subscribers: webhookSubscribers(subscriptions) };
}

/** The entries redeemed in the batch: the plain case only, each (list, code, user) once. */
function plan(items: ValidRedemption[], candidates: CandidateRow[][]): Planned[] {
  const planned: Planned[] = [];
  const keys = new Set<string>();
  items.forEach((item, index) => {
    const rows = candidates[index];
    if (rows.length === 0 || rows.some((row) => String(row.list_id) !== String(rows[0].list_id))) return;
    const assignment = rows[0];
    if (assignment.live_id !== null || Number(assignment.expired) === 1) return;
    try {
      assertCampaignAllowed(item.caller, String(assignment.campaign_id));
    } catch {
      return;
    }
    const key = JSON.stringify([String(assignment.list_id), assignment.code, item.userId]);
    if (keys.has(key)) return;
    keys.add(key);
    planned.push({ index, assignment });
  });
  return planned;
}

/** The ids of the live redemptions just inserted, by assignment (KEY (assignment_id, live)). */
async function newIds(tx: Tx, planned: Planned[]): Promise<Map<string, string>> {
  const rows: Array<{ id: string; assignment_id: string }> = await tx.query(
    'SELECT id, assignment_id FROM coupon_redemptions WHERE assignment_id IN (?) AND live = 1',
    [planned.map(({ assignment }) => assignment.id)],
  );
  return new Map(rows.map((row) => [row.assignment_id, String(row.id)]));
}
