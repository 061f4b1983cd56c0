import type { AppContext } from '../../app-context.js';
import { BadUserInputError } from '../../common/errors.js';
import { TurnBatcher } from '../../common/turn-batcher.js';
import { poolQuery } from '../../infra/db/data-source.js';
import { CouponAssignment } from '../claims/coupon-assignment.entity.js';
import { CouponAssignmentEvent, CouponAssignmentEventKind } from './coupon-assignment-event.js';

const MAX_PAGE_SIZE = 500;
/** Ids per lookup of reuses and delivery attempts. */
const LOOKUP_CHUNK = 1000;
const ER_NO_SUCH_TABLE = 1146;
const KIND_ORDER: Record<CouponAssignmentEventKind, number> = { ASSIGNED: 0, REUSED: 1, DELIVERY: 2, REDEEMED: 3, REDEMPTION_UNDONE: 4, EXPIRES: 5 };

/** What an assignment's history is built from. */
export type AssignmentKey = Pick<CouponAssignment, 'id' | 'assignedAt' | 'expiresAt'>;

interface AssignmentRow {
  id: string;
  code: string;
  list_id: string;
  campaign_id: string;
  code_seq: string | null;
  user_id: string;
  external_id: string | null;
  assigned_at: Date;
  expires_at: Date | null;
}

/** One userCoupons page: the user, its size, and the last assignment of the previous page. */
interface PageRequest {
  userId: string;
  first: number;
  cursor: { id: string; assignedAt: Date } | null;
}

/** Pages read by one statement at most. */
const MAX_PAGES_PER_STATEMENT = 32;

/** One userCoupons page, tagged `k` (a part of the statement of the pages asked for together; EXPLAIN in tests). */
export const userCouponsPageSql = (after: boolean) =>
  `(SELECT ? AS k, a.id, a.code, a.list_id, a.campaign_id, a.code_seq, a.user_id, a.external_id, a.assigned_at, l.expires_at
      FROM coupon_assignments a FORCE INDEX (idx_coupon_assignments_user)
      STRAIGHT_JOIN coupon_lists l ON l.id = a.list_id
     WHERE a.user_id = ? ${after ? 'AND (a.assigned_at < ? OR (a.assigned_at = ? AND a.id < ?))' : ''}
     ORDER BY a.assigned_at DESC, a.id DESC
     LIMIT ?)`;
const PAGE_SQL = { first: userCouponsPageSql(false), after: userCouponsPageSql(true) };

function event(kind: CouponAssignmentEventKind, at: Date, delivery?: Partial<CouponAssignmentEvent>): CouponAssignmentEvent {
  return Object.assign(new CouponAssignmentEvent(), {
    kind,
    at,
    channel: null,
    attempt: null,
    outcome: null,
    httpStatus: null,
    error: null,
    orderId: null,
    redemptionId: null,
    ...delivery,
  });
}

/**
 * A user's coupons and each assignment's history, for support ("which code did this user get,
 * and when did it reach them?"). Reads only: the rows are written by claims and delivery.
 */
export class CouponHistoryService {
  private readonly pages = new TurnBatcher<PageRequest, AssignmentRow[]>((pages) => this.readPages(pages), MAX_PAGES_PER_STATEMENT);

  constructor(private readonly app: AppContext) {}

  /**
   * Newest first over all campaigns and lists, `first` at a time; `after` is the id of the last
   * assignment of the previous page. Keyset pagination on KEY (user_id, assigned_at) (whose
   * entries end with the primary key id): each page is one short index range, however many
   * assignments exist. STRAIGHT_JOIN keeps the assignments as the driving table, so that the
   * index order is the result order whatever the optimizer thinks of the lists. Pages asked for
   * at the same time (by any requests) are read in one statement.
   */
  async userCoupons(userId: string, first: number, after: string | null): Promise<CouponAssignment[]> {
    if (userId.trim() === '') throw new BadUserInputError('userId', 'must not be empty');
    if ([...userId].length > 191) throw new BadUserInputError('userId', 'must be at most 191 characters');
    if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE_SIZE) throw new BadUserInputError('first', `must be between 1 and ${MAX_PAGE_SIZE}`);

    let cursor: PageRequest['cursor'] = null;
    if (after != null) {
      const [row] = await this.app.dataSource.query(
        'SELECT id, assigned_at FROM coupon_assignments WHERE id = ? AND user_id = ?',
        [after, userId],
      );
      if (!row) throw new BadUserInputError('after', 'must be the id of one of this user\'s assignments (the last one of the previous page)');
      cursor = { id: row.id, assignedAt: row.assigned_at };
    }
    const rows = await this.pages.submit({ userId, first, cursor });
    return rows.map((row) =>
      Object.assign(new CouponAssignment(), {
        id: row.id,
        code: row.code,
        listId: row.list_id,
        campaignId: row.campaign_id,
        codeSeq: row.code_seq,
        userId: row.user_id,
        externalId: row.external_id,
        assignedAt: row.assigned_at,
        expiresAt: row.expires_at,
        // What was handed out originally; the times it was handed back are in its history.
        reused: false,
      }),
    );
  }

  /** Pages asked for together, in one statement: each one's part tagged `k`, newest first per page. */
  private async readPages(pages: PageRequest[]): Promise<AssignmentRow[][]> {
    const sql = pages.map((page) => PAGE_SQL[page.cursor ? 'after' : 'first']).join(' UNION ALL ');
    const params: unknown[] = [];
    pages.forEach(({ userId, first, cursor }, index) => {
      params.push(index, userId);
      if (cursor) params.push(cursor.assignedAt, cursor.assignedAt, cursor.id);
      params.push(first);
    });
    const rows: Array<AssignmentRow & { k: number | string }> = await poolQuery(this.app.dataSource, sql, params);
    const byPage: AssignmentRow[][] = pages.map(() => []);
    for (const row of rows) byPage[Number(row.k)].push(row);
    // A UNION need not keep its parts' order; ids are ascii_bin, compared as the index does.
    const newestFirst = (a: AssignmentRow, b: AssignmentRow) => b.assigned_at.getTime() - a.assigned_at.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
    for (const page of byPage) if (page.length > 1) page.sort(newestFirst);
    return byPage;
  }

  /**
   * The histories of many assignments, in their order: one query for reuses and one for delivery
   * attempts whatever their number. Entries are oldest first; EXPIRES (the list's expiry) is
   * placed at its time, so it comes last while it lies in the future.
   */
  async histories(assignments: AssignmentKey[]): Promise<CouponAssignmentEvent[][]> {
    const ids = [...new Set(assignments.map((assignment) => assignment.id))];
    const byId = new Map<string, CouponAssignmentEvent[]>(ids.map((id) => [id, []]));
    // The two lookups go out together (two pool connections): one round trip of latency, not two.
    const [reuses, attempts, redemptions] = await Promise.all([
      this.rowsByAssignment<{ assignment_id: string; reused_at: Date }>(
        ids,
        'SELECT assignment_id, reused_at FROM assignment_reuses WHERE assignment_id IN (?) ORDER BY reused_at, id',
      ),
      this.rowsByAssignment<{
        assignment_id: string;
        channel: string;
        attempt: number;
        outcome: string;
        http_status: number | null;
        error: string | null;
        at: Date;
      }>(
        ids,
        'SELECT assignment_id, channel, attempt, outcome, http_status, error, at FROM delivery_attempts WHERE assignment_id IN (?) ORDER BY at, id',
      ),
      this.rowsByAssignment<{ assignment_id: string; id: string; order_id: string | null; redeemed_at: Date; undone_at: Date | null }>(
        ids,
        'SELECT assignment_id, id, order_id, redeemed_at, undone_at FROM coupon_redemptions WHERE assignment_id IN (?) ORDER BY id',
      ),
    ]);
    for (const row of redemptions) {
      const entries = byId.get(row.assignment_id);
      const details = { orderId: row.order_id, redemptionId: String(row.id) };
      entries?.push(event(CouponAssignmentEventKind.REDEEMED, row.redeemed_at, details));
      if (row.undone_at) entries?.push(event(CouponAssignmentEventKind.REDEMPTION_UNDONE, row.undone_at, details));
    }
    for (const row of reuses) byId.get(row.assignment_id)?.push(event(CouponAssignmentEventKind.REUSED, row.reused_at));
    for (const row of attempts) {
      byId.get(row.assignment_id)?.push(
        event(CouponAssignmentEventKind.DELIVERY, row.at, {
          channel: row.channel,
          attempt: row.attempt === null ? null : Number(row.attempt),
          outcome: row.outcome,
          httpStatus: row.http_status === null ? null : Number(row.http_status),
          error: row.error,
        }),
      );
    }
    return assignments.map((assignment) => {
      const entries = [event(CouponAssignmentEventKind.ASSIGNED, assignment.assignedAt), ...byId.get(assignment.id)!];
      if (assignment.expiresAt) entries.push(event(CouponAssignmentEventKind.EXPIRES, assignment.expiresAt));
      // Stable sort: entries of one kind keep the order the queries gave them.
      return entries.sort((a, b) => a.at.getTime() - b.at.getTime() || KIND_ORDER[a.kind] - KIND_ORDER[b.kind]);
    });
  }

  /**
   * Rows of a table written by another module (claims: assignment_reuses, delivery:
   * delivery_attempts, redemptions: coupon_redemptions). A deployment without that module has no table, hence no entries.
   */
  private async rowsByAssignment<T>(ids: string[], sql: string): Promise<T[]> {
    const rows: T[] = [];
    for (let start = 0; start < ids.length; start += LOOKUP_CHUNK) {
      try {
        rows.push(...(await this.app.dataSource.query(sql, [ids.slice(start, start + LOOKUP_CHUNK)])));
      } catch (error) {
        if ((error as { errno?: number }).errno === ER_NO_SUCH_TABLE || (error as { driverError?: { errno?: number } }).driverError?.errno === ER_NO_SUCH_TABLE) return [];
        throw error;
      }
    }
    return rows;
  }
}
