import type { DataSource } from 'typeorm';
import type { AppContext } from '../../app-context.js';
import { AlreadyRedeemedError, BadUserInputError, ListExpiredError, NotFoundError } from '../../common/errors.js';
import { isRowId } from '../../common/ids.js';
import type { Tx } from '../../infra/db/transaction.js';
import { assertCampaignAllowed } from '../auth/campaign-scope.js';
import type { Caller } from '../auth/caller.js';
import { addRedeemedCodes } from '../lists/list-rows.js';
import { WebhookEvent } from '../webhooks/webhook-event.js';
import { writeWebhookMessages } from '../webhooks/webhook-outbox.js';
import { candidateParams, candidatesSql, isDuplicate, newRedemption, RedemptionBatcher, type CandidateRow, type ValidRedemption } from './redemption-batch.js';
import { redeemedMessage } from './redemption-webhook.js';
import { REDEMPTION_COLUMNS, redemptionFromRow, type RedeemCouponInput, type Redemption, type RedemptionRow } from './redemption.types.js';

const MAX_CODE_LENGTH = 64;
const MAX_ID_LENGTH = 191;

function checkText(field: string, value: string | null | undefined, max: number, required: boolean): string | null {
  if (value === null || value === undefined) {
    if (required) throw new BadUserInputError(field, 'is required');
    return null;
  }
  if (value.trim() === '') throw new BadUserInputError(field, 'must not be empty');
  if (value.length > max && [...value].length > max) throw new BadUserInputError(field, `must be at most ${max} characters`);
  return value;
}

/**
 * Redemption at checkout. Exactly once is held by the database: the unique key
 * (list_id, code, user_id, live) admits one live redemption per code and user, so of any
 * number of simultaneous redemptions one insert commits and the others meet the key.
 */
export class RedemptionService {
  private readonly dataSource: DataSource;
  private readonly batcher: RedemptionBatcher;

  constructor(private readonly app: AppContext) {
    this.dataSource = app.dataSource;
    this.batcher = new RedemptionBatcher(app);
  }

  async findById(id: string): Promise<Redemption | null> {
    if (!isRowId(id)) return null;
    const [row]: RedemptionRow[] = await this.dataSource.query(`SELECT ${REDEMPTION_COLUMNS} FROM coupon_redemptions WHERE id = ?`, [id]);
    return row ? redemptionFromRow(row) : null;
  }

  /** The live redemptions of many assignments (one query). */
  async liveFor(assignmentIds: string[]): Promise<Map<string, Redemption>> {
    const byAssignment = new Map<string, Redemption>();
    if (assignmentIds.length === 0) return byAssignment;
    const rows: RedemptionRow[] = await this.dataSource.query(
      `SELECT ${REDEMPTION_COLUMNS} FROM coupon_redemptions WHERE assignment_id IN (?) AND live = 1`,
      [assignmentIds],
    );
    for (const row of rows) byAssignment.set(row.assignment_id, redemptionFromRow(row));
    return byAssignment;
  }

  async redeem(caller: Caller, input: RedeemCouponInput): Promise<Redemption> {
    const code = checkText('input.code', input.code, MAX_CODE_LENGTH, true)!;
    const userId = checkText('input.userId', input.userId, MAX_ID_LENGTH, true)!;
    const orderId = checkText('input.orderId', input.orderId, MAX_ID_LENGTH, false);
    const listId = input.listId == null ? null : input.listId;
    if (listId !== null && !isRowId(listId)) throw new BadUserInputError('input.listId', 'is not a coupon list id');
    const item: ValidRedemption = { caller, code, userId, orderId, listId };
    // The plain case is redeemed in a batch with the redemptions arriving at the same time; the rest here, one by one.
    return (await this.batcher.submit(item)) ?? this.redeemOne(item);
  }

  /** One redemption in its own transaction: every rule, every error, idempotency and races decided by the unique key. */
  private redeemOne({ caller, code, userId, orderId, listId }: ValidRedemption): Promise<Redemption> {
    return this.app.transaction(async (tx) => {
      // The user's assignments of this code, newest first, along KEY (user_id, assigned_at), with
      // the code's live redemption by the unique key: one round trip decides the usual cases.
      const candidates: CandidateRow[] = await tx.query(candidatesSql(listId !== null), candidateParams({ userId, code, listId }));
      // No hint whether the code exists: not this user's code is simply not found.
      if (candidates.length === 0) throw new NotFoundError('Coupon code', code);
      const lists = new Set(candidates.map((row) => String(row.list_id)));
      if (lists.size > 1) {
        throw new BadUserInputError('input.listId', `this user holds the code from several lists (${[...lists].join(', ')}); name one`);
      }
      const assignment = candidates[0];
      assertCampaignAllowed(caller, String(assignment.campaign_id));

      if (assignment.live_id !== null) {
        if (orderId !== null && assignment.live_order_id === orderId) {
          // On the transaction's own connection: a second pool connection per request could exhaust the pool under a burst.
          const [row]: RedemptionRow[] = await tx.query(`SELECT ${REDEMPTION_COLUMNS} FROM coupon_redemptions WHERE id = ?`, [assignment.live_id]);
          return redemptionFromRow(row);
        }
        throw new AlreadyRedeemedError(code, assignment.live_redeemed_at!, String(assignment.live_id));
      }
      if (Number(assignment.expired) === 1) throw new ListExpiredError(String(assignment.list_id), assignment.name);

      const redeemedAt = new Date();
      let id: string;
      try {
        const result = await tx.query(
          `INSERT INTO coupon_redemptions (assignment_id, list_id, campaign_id, code, user_id, order_id, redeemed_at, live, requested_by)
           VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?)`,
          [assignment.id, assignment.list_id, assignment.campaign_id, assignment.code, userId, orderId, redeemedAt, caller.keyId],
        );
        id = String(result.insertId);
      } catch (error) {
        if (!isDuplicate(error)) throw error;
        // The row that won (committed, or we would still be waiting): a locking read sees it.
        // A shared lock, like the one the duplicate check already holds: the losers of a race
        // do not deadlock each other over it.
        const live = await this.lockLiveRedemption(tx, assignment, userId);
        if (!live) throw error;
        if (orderId !== null && live.order_id === orderId) return redemptionFromRow(live);
        throw new AlreadyRedeemedError(code, live.redeemed_at, String(live.id));
      }
      const redemption = newRedemption(id, assignment, userId, orderId, redeemedAt);
      await writeWebhookMessages(tx, [redeemedMessage(redemption)]);
      // Last statement before COMMIT: the list row's lock is held for the shortest time.
      await addRedeemedCodes(tx, redemption.listId, 1);
      return redemption;
    });
  }

  /** Marks a redemption undone (a cancelled order); the user may redeem the code again. Undoing twice changes nothing. */
  async undo(caller: Caller, id: string): Promise<Redemption> {
    if (!isRowId(id)) throw new NotFoundError('Redemption', id);
    return this.app.transaction(async (tx) => {
      const [row]: RedemptionRow[] = await tx.query(`SELECT ${REDEMPTION_COLUMNS} FROM coupon_redemptions WHERE id = ? FOR UPDATE`, [id]);
      if (!row) throw new NotFoundError('Redemption', id);
      assertCampaignAllowed(caller, String(row.campaign_id));
      if (row.undone_at) return redemptionFromRow(row);
      const undoneAt = new Date();
      await tx.query('UPDATE coupon_redemptions SET undone_at = ?, live = NULL WHERE id = ? AND live = 1', [undoneAt, id]);
      await addRedeemedCodes(tx, String(row.list_id), -1);
      return redemptionFromRow({ ...row, undone_at: undoneAt });
    });
  }

  private async lockLiveRedemption(tx: Tx, assignment: CandidateRow, userId: string): Promise<RedemptionRow | undefined> {
    const [row]: RedemptionRow[] = await tx.query(
      `SELECT ${REDEMPTION_COLUMNS} FROM coupon_redemptions WHERE list_id = ? AND code = ? AND user_id = ? AND live = 1 LOCK IN SHARE MODE`,
      [assignment.list_id, assignment.code, userId],
    );
    return row;
  }
}
