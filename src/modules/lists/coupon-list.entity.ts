import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';

export enum CouponListKind {
  FIXED = 'FIXED',
  UNIQUE = 'UNIQUE',
}
export enum CouponListStatus {
  ACTIVE = 'ACTIVE',
  EXHAUSTED = 'EXHAUSTED',
  EXPIRED = 'EXPIRED',
}
registerEnumType(CouponListKind, {
  name: 'CouponListKind',
  description: 'FIXED: one shared code, up to fixedLimit assignments. UNIQUE: uploaded codes, each to one user.',
});
registerEnumType(CouponListStatus, { name: 'CouponListStatus', description: 'EXPIRED wins over EXHAUSTED.' });

/** The derived status of a list; EXPIRED wins over EXHAUSTED. */
export function couponListStatus(
  list: { expiresAt: Date | null; totalCodes: number; assignedCodes: number },
  now = new Date(),
): CouponListStatus {
  if (list.expiresAt && list.expiresAt.getTime() <= now.getTime()) return CouponListStatus.EXPIRED;
  if (list.totalCodes - list.assignedCodes <= 0) return CouponListStatus.EXHAUSTED;
  return CouponListStatus.ACTIVE;
}

/**
 * A coupon list. The counters are kept exact by the writers (claims, uploads, edits) so that
 * reading a list never counts code rows.
 *
 * UNIQUE lists hand out codes in `seq` order: codes with seq <= claimCursor are handed out (or
 * removed by a REPLACE); codes with seq > visibleSeq belong to an upload still running.
 */
@ObjectType()
@Entity('coupon_lists')
export class CouponList {
  @Field(() => ID)
  @PrimaryGeneratedColumn({ type: 'bigint', unsigned: true })
  id!: string;

  @Field()
  @Column({ type: 'varchar', length: 200 })
  name!: string;

  @Field(() => CouponListKind)
  @Column({ type: 'enum', enum: CouponListKind })
  kind!: CouponListKind;

  @Field(() => String, { nullable: true, description: 'FIXED only: the shared code.' })
  @Column({ name: 'fixed_code', type: 'varchar', length: 64, collation: 'utf8mb4_bin', nullable: true })
  fixedCode!: string | null;

  @Field(() => Int, { nullable: true, description: 'FIXED only: how many times the code can be assigned.' })
  @Column({ name: 'fixed_limit', type: 'int', nullable: true })
  fixedLimit!: number | null;

  @Field(() => Int, { description: 'UNIQUE: codes loaded; FIXED: fixedLimit.' })
  @Column({ name: 'total_codes', type: 'int', default: 0 })
  totalCodes!: number;

  @Field(() => Int)
  @Column({ name: 'assigned_codes', type: 'int', default: 0 })
  assignedCodes!: number;

  @Field(() => Int, { nullable: true, description: 'A low-stock alert fires when availableCodes reaches this or less.' })
  @Column({ name: 'warning_limit', type: 'int', nullable: true })
  warningLimit!: number | null;

  @Field(() => [String])
  @Column({ name: 'alert_emails', type: 'json' })
  alertEmails!: string[];

  @Field(() => Date, { nullable: true })
  @Column({ name: 'expires_at', type: 'datetime', precision: 3, nullable: true })
  expiresAt!: Date | null;

  @Field(() => Int, { description: 'Codes of this list redeemed and not undone, exact (kept by redeemCoupon and undoRedemption).' })
  @Column({ name: 'redeemed_codes', type: 'int', default: 0 })
  redeemedCodes!: number;

  @Column({ name: 'claim_cursor', type: 'bigint', unsigned: true, default: 0 })
  claimCursor!: string;

  @Column({ name: 'visible_seq', type: 'bigint', unsigned: true, default: 0 })
  visibleSeq!: string;

  @Field(() => Date)
  @CreateDateColumn({ name: 'created_at', type: 'datetime', precision: 3 })
  createdAt!: Date;

  @Field(() => Date)
  @UpdateDateColumn({ name: 'updated_at', type: 'datetime', precision: 3 })
  updatedAt!: Date;

  @Field(() => Int, { description: 'totalCodes - assignedCodes, exact.' })
  get availableCodes(): number {
    return Math.max(0, this.totalCodes - this.assignedCodes);
  }

  @Field(() => CouponListStatus)
  get status(): CouponListStatus {
    return couponListStatus(this);
  }
}

@ObjectType()
export class CouponListPage {
  @Field(() => [CouponList])
  items!: CouponList[];

  @Field(() => Int, { description: 'How many lists match the filters, over all pages.' })
  totalCount!: number;

  @Field(() => String, { nullable: true, description: 'Pass as `after` for the next page; null on the last page.' })
  nextCursor!: string | null;
}
