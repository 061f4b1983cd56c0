import type { DataSource } from 'typeorm';
import type { AppContext } from '../../app-context.js';
import { BadUserInputError } from '../../common/errors.js';
import { isRowId } from '../../common/ids.js';
import { CouponAssignment } from '../claims/coupon-assignment.entity.js';
import { RedemptionService } from './redemption.service.js';
import { CouponCodeInfo, CouponCodeState } from './redemption.types.js';

interface CodeRow {
  list_id: string;
  seq: string | null;
  name: string;
  kind: 'FIXED' | 'UNIQUE';
  claim_cursor: string;
  expires_at: Date | null;
  expired: number;
  can_serve: number;
}

interface AssignmentRow {
  id: string;
  list_id: string;
  campaign_id: string;
  code_seq: string | null;
  code: string;
  user_id: string;
  external_id: string | null;
  assigned_at: Date;
}

const LIST_STATE = `(l.expires_at IS NOT NULL AND l.expires_at <= UTC_TIMESTAMP(3)) AS expired, (l.total_codes > l.assigned_codes) AS can_serve`;
const ASSIGNMENT_COLUMNS = 'id, list_id, campaign_id, code_seq, code, user_id, external_id, assigned_at';

/**
 * couponCode: every list holding exactly this code, answered from indexes only. UNIQUE codes
 * come from coupon_codes by KEY (code) (or the unique (list_id, code) when a list is named),
 * FIXED lists by KEY (fixed_code); the latest assignment by UNIQUE (list_id, code_seq) or, for a
 * FIXED code, the newest entry of KEY (list_id, assigned_at). Codes of an upload still running
 * (above visible_seq) are not there yet.
 */
export class CodeLookupService {
  private readonly dataSource: DataSource;
  private readonly redemptions: RedemptionService;

  constructor(app: AppContext) {
    this.dataSource = app.dataSource;
    this.redemptions = app.get(RedemptionService);
  }

  /** The SQL of the UNIQUE-code read (for EXPLAIN in tests and benchmarks). */
  static readonly UNIQUE_CODES_SQL = (withList: boolean) =>
    `SELECT c.list_id, c.seq, l.name, l.kind, l.claim_cursor, l.expires_at, ${LIST_STATE}
       FROM coupon_codes c STRAIGHT_JOIN coupon_lists l ON l.id = c.list_id
      WHERE c.code = ? ${withList ? 'AND c.list_id = ?' : ''} AND c.seq <= l.visible_seq`;

  static readonly FIXED_LISTS_SQL = (withList: boolean) =>
    `SELECT l.id AS list_id, NULL AS seq, l.name, l.kind, l.claim_cursor, l.expires_at, ${LIST_STATE}
       FROM coupon_lists l WHERE l.fixed_code = ? AND l.kind = 'FIXED' ${withList ? 'AND l.id = ?' : ''}`;

  async lookup(code: string, listId: string | null): Promise<CouponCodeInfo[]> {
    if (code.trim() === '') throw new BadUserInputError('code', 'must not be empty');
    if ([...code].length > 64) throw new BadUserInputError('code', 'must be at most 64 characters');
    if (listId !== null && !isRowId(listId)) return [];
    const params = listId ? [code, listId] : [code];
    const [unique, fixed]: [CodeRow[], CodeRow[]] = await Promise.all([
      this.dataSource.query(CodeLookupService.UNIQUE_CODES_SQL(listId !== null), params),
      this.dataSource.query(CodeLookupService.FIXED_LISTS_SQL(listId !== null), params),
    ]);
    const rows = [...unique, ...fixed].sort((a, b) => Number(a.list_id) - Number(b.list_id));
    const assignments = await Promise.all(rows.map((row) => this.latestAssignment(row)));
    const live = await this.redemptions.liveFor(assignments.filter((a): a is AssignmentRow => a !== null).map((a) => a.id));
    return rows.map((row, index) => {
      const assignmentRow = assignments[index];
      const redemption = assignmentRow ? (live.get(assignmentRow.id) ?? null) : null;
      const expired = Number(row.expired) === 1;
      let state: CouponCodeState;
      if (redemption) state = CouponCodeState.REDEEMED;
      else if (expired) state = CouponCodeState.EXPIRED;
      else if (row.kind === 'FIXED') state = Number(row.can_serve) === 1 ? CouponCodeState.AVAILABLE : CouponCodeState.ASSIGNED;
      else if (assignmentRow) state = CouponCodeState.ASSIGNED;
      else if (BigInt(row.seq!) <= BigInt(row.claim_cursor)) state = CouponCodeState.REMOVED;
      else state = CouponCodeState.AVAILABLE;
      return Object.assign(new CouponCodeInfo(), {
        code,
        listId: String(row.list_id),
        listName: row.name,
        state,
        assignment: assignmentRow
          ? Object.assign(new CouponAssignment(), {
              id: assignmentRow.id,
              code: assignmentRow.code,
              listId: String(assignmentRow.list_id),
              campaignId: String(assignmentRow.campaign_id),
              codeSeq: assignmentRow.code_seq,
              userId: assignmentRow.user_id,
              externalId: assignmentRow.external_id,
              assignedAt: assignmentRow.assigned_at,
              expiresAt: row.expires_at,
              reused: false,
            })
          : null,
        redemption,
      });
    });
  }

  private async latestAssignment(row: CodeRow): Promise<AssignmentRow | null> {
    const rows: AssignmentRow[] =
      row.kind === 'UNIQUE'
        ? await this.dataSource.query(`SELECT ${ASSIGNMENT_COLUMNS} FROM coupon_assignments WHERE list_id = ? AND code_seq = ?`, [row.list_id, row.seq])
        : await this.dataSource.query(
            `SELECT ${ASSIGNMENT_COLUMNS} FROM coupon_assignments FORCE INDEX (idx_coupon_assignments_list)
              WHERE list_id = ? ORDER BY assigned_at DESC, id DESC LIMIT 1`,
            [row.list_id],
          );
    return rows[0] ?? null;
  }
}
