import type { AppContext } from '../../app-context.js';
import { BadUserInputError, NotFoundError } from '../../common/errors.js';
import { isRowId } from '../../common/ids.js';
import { requireDate, requireEmails, requireNonNegativeInt, requirePositiveInt, requireText } from '../../common/validation.js';
import type { Tx } from '../../infra/db/transaction.js';
import { codeProblem } from '../codes/code-rules.js';
import { CouponList, CouponListKind, CouponListPage, CouponListStatus } from './coupon-list.entity.js';
import { CouponListEdited, CouponListStockChanged, type CouponListSnapshot } from './coupon-list.events.js';
import type { CreateCouponListInput, UpdateCouponListInput } from './coupon-list.inputs.js';
import { snapshotOf } from './list-rows.js';
import { WebhookEvent } from '../webhooks/webhook-event.js';
import { writeWebhookMessages, type WebhookMessage } from '../webhooks/webhook-outbox.js';

const MAX_PAGE_SIZE = 500;

/** coupon_list.exhausted / coupon_list.replenished when an edit (a FIXED list's limit) emptied or refilled the list. */
function stockTransitionMessages(before: CouponListSnapshot, after: CouponListSnapshot): WebhookMessage[] {
  const data = { listId: after.id, listName: after.name, totalCodes: after.totalCodes, assignedCodes: after.assignedCodes, availableCodes: after.availableCodes };
  if (before.availableCodes > 0 && after.availableCodes === 0) return [{ event: WebhookEvent.LIST_EXHAUSTED, data }];
  if (before.availableCodes === 0 && after.availableCodes > 0) return [{ event: WebhookEvent.LIST_REPLENISHED, data }];
  return [];
}

function encodeCursor(id: string): string {
  return Buffer.from(`list:${id}`, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): string {
  const decoded = Buffer.from(cursor, 'base64url').toString('utf8');
  const id = decoded.startsWith('list:') ? decoded.slice(5) : '';
  if (!isRowId(id)) throw new BadUserInputError('after', 'is not a cursor returned by couponLists.nextCursor');
  return id;
}

function validFixedCode(field: string, value: string): string {
  const code = value.trim();
  const problem = codeProblem(code);
  if (problem) throw new BadUserInputError(field, `the code ${problem}`);
  return code;
}

/** Coupon lists: creation, edits and reads. Stock figures move through list-rows.ts (claims, uploads, redemptions). */
export class CouponListService {
  constructor(private readonly app: AppContext) {}

  async findById(id: string): Promise<CouponList | null> {
    if (!isRowId(id)) return null;
    return this.app.dataSource.getRepository(CouponList).findOne({ where: { id } });
  }

  async getById(id: string): Promise<CouponList> {
    const list = await this.findById(id);
    if (!list) throw new NotFoundError('Coupon list', id);
    return list;
  }

  /** Reads a list inside a transaction, locking its row until the transaction ends. */
  async lockById(tx: Tx, id: string): Promise<CouponList> {
    const list = isRowId(id)
      ? await tx.manager.getRepository(CouponList).findOne({ where: { id }, lock: { mode: 'pessimistic_write' } })
      : null;
    if (!list) throw new NotFoundError('Coupon list', id);
    return list;
  }

  async create(input: CreateCouponListInput): Promise<CouponList> {
    const name = requireText('input.name', input.name, 200);
    const list = new CouponList();
    list.name = name;
    list.kind = input.kind;
    list.alertEmails = requireEmails('input.alertEmails', input.alertEmails ?? []);
    list.warningLimit = input.warningLimit == null ? null : requireNonNegativeInt('input.warningLimit', input.warningLimit);
    list.expiresAt = input.expiresAt == null ? null : requireDate('input.expiresAt', input.expiresAt);
    list.assignedCodes = 0;
    list.redeemedCodes = 0;
    list.claimCursor = '0';
    list.visibleSeq = '0';
    if (input.kind === CouponListKind.FIXED) {
      if (input.fixedCode == null) throw new BadUserInputError('input.fixedCode', 'is required for a FIXED list');
      if (input.fixedLimit == null) throw new BadUserInputError('input.fixedLimit', 'is required for a FIXED list');
      list.fixedCode = validFixedCode('input.fixedCode', input.fixedCode);
      list.fixedLimit = requirePositiveInt('input.fixedLimit', input.fixedLimit);
      list.totalCodes = list.fixedLimit;
    } else {
      if (input.fixedCode != null) throw new BadUserInputError('input.fixedCode', 'only FIXED lists have a fixed code; upload codes to a UNIQUE list');
      if (input.fixedLimit != null) throw new BadUserInputError('input.fixedLimit', 'only FIXED lists have a fixed limit');
      list.fixedCode = null;
      list.fixedLimit = null;
      list.totalCodes = 0;
    }
    return this.app.transaction(async (tx) => {
      const saved = await tx.manager.getRepository(CouponList).save(list);
      tx.publish(new CouponListEdited(snapshotOf(saved), ['created'], { expiresAt: null, warningLimit: null }, true));
      tx.publish(new CouponListStockChanged(snapshotOf(saved)));
      return saved;
    });
  }

  async update(id: string, input: UpdateCouponListInput): Promise<CouponList> {
    return this.app.transaction(async (tx) => {
      const list = await this.lockById(tx, id);
      const previous = { expiresAt: list.expiresAt, warningLimit: list.warningLimit };
      const before = snapshotOf(list);
      const changed: string[] = [];

      if (input.name !== undefined) {
        if (input.name === null) throw new BadUserInputError('input.name', 'cannot be null');
        list.name = requireText('input.name', input.name, 200);
        changed.push('name');
      }
      if (input.fixedCode !== undefined || input.fixedLimit !== undefined) {
        if (list.kind !== CouponListKind.FIXED) {
          const field = input.fixedCode !== undefined ? 'input.fixedCode' : 'input.fixedLimit';
          throw new BadUserInputError(field, 'only FIXED lists have a fixed code and limit; this list is UNIQUE');
        }
      }
      if (input.fixedCode !== undefined) {
        if (input.fixedCode === null) throw new BadUserInputError('input.fixedCode', 'cannot be null on a FIXED list');
        list.fixedCode = validFixedCode('input.fixedCode', input.fixedCode);
        changed.push('fixedCode');
      }
      if (input.fixedLimit !== undefined) {
        if (input.fixedLimit === null) throw new BadUserInputError('input.fixedLimit', 'cannot be null on a FIXED list');
        const limit = requirePositiveInt('input.fixedLimit', input.fixedLimit);
        if (limit < list.assignedCodes) {
          throw new BadUserInputError('input.fixedLimit', `cannot be below the ${list.assignedCodes} assignments already made`);
        }
        list.fixedLimit = limit;
        list.totalCodes = limit;
        changed.push('fixedLimit');
      }
      if (input.warningLimit !== undefined) {
        list.warningLimit = input.warningLimit === null ? null : requireNonNegativeInt('input.warningLimit', input.warningLimit);
        changed.push('warningLimit');
      }
      if (input.alertEmails !== undefined) {
        list.alertEmails = requireEmails('input.alertEmails', input.alertEmails ?? []);
        changed.push('alertEmails');
      }
      if (input.expiresAt !== undefined) {
        list.expiresAt = input.expiresAt === null ? null : requireDate('input.expiresAt', input.expiresAt);
        changed.push('expiresAt');
      }

      const saved = await tx.manager.getRepository(CouponList).save(list);
      const after = snapshotOf(saved);
      await writeWebhookMessages(tx, stockTransitionMessages(before, after));
      tx.publish(new CouponListEdited(after, changed, previous, false));
      if (after.totalCodes !== before.totalCodes || after.status !== before.status || changed.includes('expiresAt')) {
        tx.publish(new CouponListStockChanged(after));
      }
      return saved;
    });
  }

  async page(args: { first: number; after?: string | null; status?: CouponListStatus | null; search?: string | null }): Promise<CouponListPage> {
    if (!Number.isInteger(args.first) || args.first < 1 || args.first > MAX_PAGE_SIZE) {
      throw new BadUserInputError('first', `must be between 1 and ${MAX_PAGE_SIZE}`);
    }
    const query = this.app.dataSource.getRepository(CouponList).createQueryBuilder('list');
    const search = args.search?.trim();
    if (search) {
      // The column's collation is case-insensitive; LIKE's wildcards in the search are escaped.
      query.andWhere('list.name LIKE :search', { search: `%${search.replace(/[\\%_]/g, (c) => `\\${c}`)}%` });
    }
    const expired = 'list.expires_at IS NOT NULL AND list.expires_at <= UTC_TIMESTAMP(3)';
    if (args.status === CouponListStatus.EXPIRED) query.andWhere(expired);
    if (args.status === CouponListStatus.EXHAUSTED) query.andWhere(`NOT (${expired}) AND list.total_codes <= list.assigned_codes`);
    if (args.status === CouponListStatus.ACTIVE) query.andWhere(`NOT (${expired}) AND list.total_codes > list.assigned_codes`);

    const totalCount = await query.clone().getCount();
    if (args.after) query.andWhere('list.id < :afterId', { afterId: decodeCursor(args.after) });
    const rows = await query.orderBy('list.id', 'DESC').take(args.first + 1).getMany();
    const items = rows.slice(0, args.first);
    const nextCursor = rows.length > args.first ? encodeCursor(items[items.length - 1].id) : null;
    return { items, totalCount, nextCursor };
  }
}
