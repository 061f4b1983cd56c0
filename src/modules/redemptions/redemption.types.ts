import { Field, ID, InputType, ObjectType, registerEnumType } from 'type-graphql';
import { CouponAssignment } from '../claims/coupon-assignment.entity.js';

export enum CouponCodeState {
  AVAILABLE = 'AVAILABLE',
  ASSIGNED = 'ASSIGNED',
  REDEEMED = 'REDEEMED',
  EXPIRED = 'EXPIRED',
  REMOVED = 'REMOVED',
}
registerEnumType(CouponCodeState, {
  name: 'CouponCodeState',
  description:
    'REDEEMED: a live redemption (wins over the rest). EXPIRED: its list has expired. ASSIGNED: handed out, not redeemed. ' +
    'REMOVED: taken out of the pool unassigned (a REPLACE upload). AVAILABLE: can still be handed out. ' +
    'A FIXED code is AVAILABLE while its list can hand it out, else ASSIGNED.',
});

@ObjectType({ description: 'A code marked used at checkout; undoneAt is set when the order was cancelled.' })
export class Redemption {
  @Field(() => ID) id!: string;
  @Field(() => ID) assignmentId!: string;
  @Field() code!: string;
  @Field(() => ID) listId!: string;
  @Field(() => ID) campaignId!: string;
  @Field() userId!: string;
  @Field(() => String, { nullable: true }) orderId!: string | null;
  @Field(() => Date) redeemedAt!: Date;
  @Field(() => Date, { nullable: true }) undoneAt!: Date | null;
}

@ObjectType({ description: 'What the service knows about one code in one list.' })
export class CouponCodeInfo {
  @Field() code!: string;
  @Field(() => ID) listId!: string;
  @Field() listName!: string;
  @Field(() => CouponCodeState) state!: CouponCodeState;
  @Field(() => CouponAssignment, { nullable: true, description: 'The latest assignment of this code, if any.' }) assignment!: CouponAssignment | null;
  @Field(() => Redemption, { nullable: true, description: 'Its live redemption, if any.' }) redemption!: Redemption | null;
}

@InputType()
export class RedeemCouponInput {
  @Field() code!: string;
  @Field({ description: 'The user the code was assigned to.' }) userId!: string;
  @Field(() => ID, { nullable: true, description: 'Needed only when the user holds this code from several lists.' }) listId?: string | null;
  @Field(() => String, { nullable: true, description: 'The shop\'s order: redeeming again with the same orderId returns the same redemption.' })
  orderId?: string | null;
}

export interface RedemptionRow {
  id: string;
  assignment_id: string;
  list_id: string;
  campaign_id: string;
  code: string;
  user_id: string;
  order_id: string | null;
  redeemed_at: Date;
  undone_at: Date | null;
}

export const REDEMPTION_COLUMNS = 'id, assignment_id, list_id, campaign_id, code, user_id, order_id, redeemed_at, undone_at';

export function redemptionFromRow(row: RedemptionRow): Redemption {
  return Object.assign(new Redemption(), {
    id: String(row.id),
    assignmentId: row.assignment_id,
    code: row.code,
    listId: String(row.list_id),
    campaignId: String(row.campaign_id),
    userId: row.user_id,
    orderId: row.order_id,
    redeemedAt: row.redeemed_at,
    undoneAt: row.undone_at,
  });
}
