import type { DataSource } from 'typeorm';
import type { AppContext } from '../../app-context.js';
import { BadUserInputError } from '../../common/errors.js';
import { isRowId } from '../../common/ids.js';
import { TurnBatcher } from '../../common/turn-batcher.js';
import { binCollationKey } from '../../infra/db/bin-collation.js';
import { poolQuery } from '../../infra/db/data-source.js';
import { CouponAssignment } from '../claims/coupon-assignment.entity.js';
import { CouponCodeInfo, CouponCodeState, redemptionFromRow } from './redemption.types.js';

/** One list holding the code, with the latest assignment and its live redemption (columns null when none). */
interface LookupRow {
  /** The stored code the row was found by. */
  matched: string;
  list_id: string;
  seq: string | null;
  name: string;
  kind: 'FIXED' | 'UNIQUE';
  claim_cursor: string;
  expires_at: Date | null;
  expired: number;
  can_serve: number;
  a_id: string | null;
  a_campaign_id: string | null;
  a_code_seq: string | null;
  a_code: string | null;
  a_user_id: string | null;
  a_external_id: string | null;
  a_assigned_at: Date | null;
  r_id: string | null;
  r_order_id: string | null;
  r_redeemed_at: Date | null;
}

const LIST_COLUMNS = `l.name, l.kind, l.claim_cursor, l.expires_at,
  (l.expires_at IS NOT NULL AND l.expires_at <= UTC_TIMESTAMP(3)) AS expired, (l.total_codes > l.assigned_codes) AS can_serve`;
const ASSIGNMENT_AND_REDEMPTION = `a.id AS a_id, a.campaign_id AS a_campaign_id, a.code_seq AS a_code_seq, a.code AS a_code, a.user_id AS a_user_id,
  a.external_id AS a_external_id, a.assigned_at AS a_assigned_at, r.id AS r_id, r.order_id AS r_order_id, r.redeemed_at AS r_redeemed_at`;
// FORCE INDEX: with few redemptions yet, the optimizer would scan the table once per lookup (a block nested loop).
const LIVE_REDEMPTION_JOIN = 'LEFT JOIN coupon_redemptions r FORCE INDEX (idx_coupon_redemptions_assignment) ON r.assignment_id = a.id AND r.live = 1';

/** Codes looked up by one statement at most. */
const MAX_LOOKUPS_PER_STATEMENT = 64;

interface LookupItem {
  code: string;
  listId: string | null;
}

/**
 * couponCode: every list holding exactly this code, answered from indexes in one round trip.
 * UNIQUE codes come from coupon_codes by KEY (code) and their assignment by UNIQUE (list_id,
 * code_seq); FIXED lists by KEY (fixed_code) and their latest assignment as the newest entry of
 * KEY (list_id, assigned_at); the live redemption by KEY (assignment_id, live). Codes of an
 * upload still running (above visible_seq) are not there yet. Lookups arriving together share
 * one statement (`IN` over their codes: one index dive each, not a UNION part each); each takes
 * the rows of its code, and of its list when one is named.
 */
export class CodeLookupService {
  private readonly dataSource: DataSource;
  private readonly batcher = new TurnBatcher<LookupItem, LookupRow[]>((items) => this.readAll(items), MAX_LOOKUPS_PER_STATEMENT);

  constructor(app: AppContext) {
    this.dataSource = app.dataSource;
  }

  /** The coupon_codes part for `codes` codes (EXPLAIN in tests and benchmarks). */
  static readonly UNIQUE_CODES_SQL = (codes: number) =>
    `SELECT c.code AS matched, c.list_id, c.seq, ${LIST_COLUMNS}, ${ASSIGNMENT_AND_REDEMPTION}
       FROM coupon_codes c STRAIGHT_JOIN coupon_lists l ON l.id = c.list_id
       LEFT JOIN coupon_assignments a ON a.list_id = c.list_id AND a.code_seq = c.seq
       ${LIVE_REDEMPTION_JOIN}
      WHERE c.code IN (${placeholders(codes)}) AND c.seq <= l.visible_seq`;

  static readonly FIXED_LISTS_SQL = (codes: number) =>
    `SELECT l.fixed_code AS matched, l.id AS list_id, NULL AS seq, ${LIST_COLUMNS}, ${ASSIGNMENT_AND_REDEMPTION}
       FROM coupon_lists l
       LEFT JOIN coupon_assignments a ON a.id = (SELECT latest.id FROM coupon_assignments latest FORCE INDEX (idx_coupon_assignments_list)
                                                  WHERE latest.list_id = l.id ORDER BY latest.assigned_at DESC, latest.id DESC LIMIT 1)
       ${LIVE_REDEMPTION_JOIN}
      WHERE l.fixed_code IN (${placeholders(codes)}) AND l.kind = 'FIXED'`;

  async lookup(code: string, listId: string | null): Promise<CouponCodeInfo[]> {
    if (code.trim() === '') throw new BadUserInputError('code', 'must not be empty');
    if ([...code].length > 64) throw new BadUserInputError('code', 'must be at most 64 characters');
    if (listId !== null && !isRowId(listId)) return [];
    const rows = await this.batcher.submit({ code, listId });
    if (rows.length > 1) rows.sort((a, b) => (BigInt(a.list_id) < BigInt(b.list_id) ? -1 : 1));
    return rows.map((row) => infoOf(code, row));
  }

  /** The rows of every lookup, in one statement. No ORDER BY on the UNION (it would put the rows through a temporary table): a few rows are sorted per lookup. */
  private async readAll(items: LookupItem[]): Promise<LookupRow[][]> {
    const codes = [...new Set(items.map((item) => item.code))];
    const rows: LookupRow[] = await poolQuery(this.dataSource, lookupSql(codes.length), [...codes, ...codes]);
    const byCode = new Map<string, LookupRow[]>();
    for (const row of rows) {
      const key = binCollationKey(row.matched);
      const same = byCode.get(key);
      if (same) same.push(row);
      else byCode.set(key, [row]);
    }
    return items.map(({ code, listId }) => {
      const found = byCode.get(binCollationKey(code)) ?? [];
      return listId === null ? [...found] : found.filter((row) => String(row.list_id) === listId);
    });
  }
}

const placeholders = (count: number) => Array.from({ length: count }, () => '?').join(', ');

/** The statement for `codes` codes, built once per count (whitespace runs cut: the driver scans the text for placeholders). */
const lookupStatements = new Map<number, string>();
function lookupSql(codes: number): string {
  let sql = lookupStatements.get(codes);
  if (sql === undefined) {
    sql = `${CodeLookupService.UNIQUE_CODES_SQL(codes)} UNION ALL ${CodeLookupService.FIXED_LISTS_SQL(codes)}`.replace(/\s+/g, ' ');
    lookupStatements.set(codes, sql);
  }
  return sql;
}

function infoOf(code: string, row: LookupRow): CouponCodeInfo {
  const assigned = row.a_id !== null;
  const redemption =
    row.r_id === null
      ? null
      : redemptionFromRow({
          id: row.r_id,
          assignment_id: row.a_id!,
          list_id: row.list_id,
          campaign_id: row.a_campaign_id!,
          code: row.a_code!,
          user_id: row.a_user_id!,
          order_id: row.r_order_id,
          redeemed_at: row.r_redeemed_at!,
          undone_at: null,
        });
  let state: CouponCodeState;
  if (redemption) state = CouponCodeState.REDEEMED;
  else if (Number(row.expired) === 1) state = CouponCodeState.EXPIRED;
  else if (row.kind === 'FIXED') state = Number(row.can_serve) === 1 ? CouponCodeState.AVAILABLE : CouponCodeState.ASSIGNED;
  else if (assigned) state = CouponCodeState.ASSIGNED;
  else if (BigInt(row.seq!) <= BigInt(row.claim_cursor)) state = CouponCodeState.REMOVED;
  else state = CouponCodeState.AVAILABLE;
  return Object.assign(new CouponCodeInfo(), {
    code,
    listId: String(row.list_id),
    listName: row.name,
    state,
    assignment: assigned
      ? Object.assign(new CouponAssignment(), {
          id: row.a_id,
          code: row.a_code,
          listId: String(row.list_id),
          campaignId: String(row.a_campaign_id),
          codeSeq: row.a_code_seq,
          userId: row.a_user_id,
          externalId: row.a_external_id,
          assignedAt: row.a_assigned_at,
          expiresAt: row.expires_at,
          reused: false,
        })
      : null,
    redemption,
  });
}
