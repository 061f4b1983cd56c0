import type { Tx } from '../../infra/db/transaction.js';
import { couponListStatus } from './coupon-list.entity.js';
import type { CouponListSnapshot } from './coupon-list.events.js';

/**
 * The lists module owns the coupon_lists rows: every write to them is here or in
 * CouponListService. Other modules (claims, uploads, expiry, alerts, redemptions) call these
 * functions inside their own transaction (or on the connection they pass), so each statement
 * stays where its caller's transaction and round trips need it.
 */

/** Whatever runs a statement: a transaction (`Tx`) or the data source. */
export type SqlRunner = Pick<Tx, 'query'>;

/** SQL: a list row `l` that can still hand out a code now (on the database's clock). */
export const LIST_CAN_SERVE_SQL = 'l.total_codes > l.assigned_codes AND (l.expires_at IS NULL OR l.expires_at > UTC_TIMESTAMP(3))';

/**
 * SQL over coupon_lists: at or below its warning limit. A list that never had a code (total 0: a
 * new UNIQUE list before its first upload) is not "low on stock".
 */
export const AT_OR_BELOW_WARNING_LIMIT_SQL = 'warning_limit IS NOT NULL AND total_codes > 0 AND total_codes - assigned_codes <= warning_limit';
/** SQL over coupon_lists: above its warning limit, or without one (a raised alert may be armed again). */
export const ABOVE_WARNING_LIMIT_SQL = '(warning_limit IS NULL OR total_codes - assigned_codes > warning_limit)';

/** updated_at is kept: counters, flags and alert state are not edits of the list. */
const KEEP_UPDATED_AT = 'updated_at = updated_at';

/** A list's figures, from the entity or from a raw row (numbers already converted). */
export interface ListFigures {
  id: string;
  name: string;
  totalCodes: number;
  assignedCodes: number;
  warningLimit: number | null;
  expiresAt: Date | null;
}

/** The figures events carry, with the status derived at `now` (the one place a snapshot is built). */
export function snapshotOf(list: ListFigures, now = new Date()): CouponListSnapshot {
  return {
    id: list.id,
    name: list.name,
    totalCodes: list.totalCodes,
    assignedCodes: list.assignedCodes,
    availableCodes: Math.max(0, list.totalCodes - list.assignedCodes),
    warningLimit: list.warningLimit,
    expiresAt: list.expiresAt,
    status: couponListStatus(list, now),
  };
}

/** How one list's cursor and counter move in a claim batch. */
export interface ListClaimMove {
  id: string;
  fromCursor: string;
  toCursor: string;
  fromAssigned: number;
  count: number;
}

/**
 * For the claim batch, which sends its writes itself (one statement per round trip): one guarded
 * UPDATE for every list the batch took codes from. Each row changes only if its cursor and
 * counter are still what the batch read under the lock; `rows` is how many must change.
 */
export function listClaimMovesWrite(moves: ListClaimMove[]): { sql: string; params: unknown[]; rows: number } {
  if (moves.length === 1) {
    const [move] = moves;
    return {
      sql: 'UPDATE coupon_lists SET claim_cursor = ?, assigned_codes = assigned_codes + ? WHERE id = ? AND claim_cursor = ? AND assigned_codes = ?',
      params: [move.toCursor, move.count, move.id, move.fromCursor, move.fromAssigned],
      rows: 1,
    };
  }
  const cases = moves.map(() => 'WHEN ? THEN ?').join(' ');
  return {
    sql: `UPDATE coupon_lists SET claim_cursor = CASE id ${cases} END, assigned_codes = assigned_codes + CASE id ${cases} END
           WHERE ${moves.map(() => '(id = ? AND claim_cursor = ? AND assigned_codes = ?)').join(' OR ')}`,
    params: [
      ...moves.flatMap((move) => [move.id, move.toCursor]),
      ...moves.flatMap((move) => [move.id, move.count]),
      ...moves.flatMap((move) => [move.id, move.fromCursor, move.fromAssigned]),
    ],
    rows: moves.length,
  };
}

/**
 * Inside the completing upload's transaction, holding the list row lock (`list` as read under
 * it): makes the upload's rows up to `lastSeq` claimable and counts its `added` codes in. A
 * REPLACE first puts everything up to `seqBase` out of reach of claims (the old unassigned rows
 * are deleted later). Returns the list's figures afterwards.
 */
export async function takeInUploadedCodes(
  tx: Tx,
  list: ListFigures,
  upload: { replace: boolean; seqBase: string; lastSeq: string; added: number },
): Promise<CouponListSnapshot> {
  if (upload.replace) {
    await tx.query(`UPDATE coupon_lists SET claim_cursor = ?, visible_seq = GREATEST(visible_seq, ?), total_codes = assigned_codes + ? WHERE id = ?`, [
      upload.seqBase, upload.lastSeq, upload.added, list.id,
    ]);
    return snapshotOf({ ...list, totalCodes: list.assignedCodes + upload.added });
  }
  await tx.query(`UPDATE coupon_lists SET visible_seq = GREATEST(visible_seq, ?), total_codes = total_codes + ? WHERE id = ?`, [
    upload.lastSeq, upload.added, list.id,
  ]);
  return snapshotOf({ ...list, totalCodes: list.totalCodes + upload.added });
}

/**
 * Inside the caller's transaction: moves the list's exact redeemed count by `delta` (redemptions
 * and their undoing), in the same transaction as the redemption row, so it never drifts.
 */
export async function addRedeemedCodes(tx: Tx, listId: string, delta: number): Promise<void> {
  await tx.query(`UPDATE coupon_lists SET redeemed_codes = redeemed_codes + ?, ${KEEP_UPDATED_AT} WHERE id = ?`, [delta, listId]);
}

/** A new expiry time is a new expiry to carry out (a later one made the list ACTIVE again). */
export async function reopenExpiry(db: SqlRunner, listId: string): Promise<void> {
  await db.query(`UPDATE coupon_lists SET expiry_processed_at = NULL, ${KEEP_UPDATED_AT} WHERE id = ? AND expiry_processed_at IS NOT NULL`, [listId]);
}

/** Records that the list's expiry at `expiresAt` was carried out; false if the row no longer has that expiry to carry out. */
export async function markExpiryCarriedOut(tx: Tx, listId: string, expiresAt: Date): Promise<boolean> {
  const marked = await tx.query(
    `UPDATE coupon_lists SET expiry_processed_at = expires_at, ${KEEP_UPDATED_AT} WHERE id = ? AND expires_at = ? AND (expiry_processed_at IS NULL OR expiry_processed_at <> expires_at)`,
    [listId, expiresAt],
  );
  return affectedRows(marked) === 1;
}

/** Arms the low-stock alert again if the list is above its limit (or has none any more); true if this statement did. */
export async function rearmLowStockAlert(db: SqlRunner, listId: string): Promise<boolean> {
  const result = await db.query(
    `UPDATE coupon_lists SET low_stock_alerted = 0, ${KEEP_UPDATED_AT}
      WHERE id = ? AND low_stock_alerted = 1 AND ${ABOVE_WARNING_LIMIT_SQL}`,
    [listId],
  );
  return affectedRows(result) === 1;
}

/** Flips the low-stock flag and counts the crossing if the list is at or below its limit; true if this statement did. */
export async function flagLowStock(db: SqlRunner, listId: string): Promise<boolean> {
  const result = await db.query(
    `UPDATE coupon_lists SET low_stock_alerted = 1, low_stock_alerts = low_stock_alerts + 1, ${KEEP_UPDATED_AT}
      WHERE id = ? AND low_stock_alerted = 0 AND ${AT_OR_BELOW_WARNING_LIMIT_SQL}`,
    [listId],
  );
  return affectedRows(result) === 1;
}

function affectedRows(result: unknown): number {
  return Number((result as { affectedRows?: number })?.affectedRows ?? 0);
}
