import { Field, Int, ObjectType, registerEnumType } from 'type-graphql';

export enum CouponAssignmentEventKind {
  ASSIGNED = 'ASSIGNED',
  REUSED = 'REUSED',
  DELIVERY = 'DELIVERY',
  EXPIRES = 'EXPIRES',
  REDEEMED = 'REDEEMED',
  REDEMPTION_UNDONE = 'REDEMPTION_UNDONE',
}
registerEnumType(CouponAssignmentEventKind, {
  name: 'CouponAssignmentEventKind',
  description:
    'ASSIGNED: the code was handed to the user. REUSED: the claim window handed it back again. ' +
    'DELIVERY: one attempt to send it by SMS or push. EXPIRES: the list\'s expiry (may lie in the future). ' +
    'REDEEMED: it was redeemed (orderId set when given). REDEMPTION_UNDONE: that redemption was undone (a cancelled order).',
});

/** One entry of an assignment's history. */
@ObjectType({ description: 'One entry of a coupon assignment\'s history.' })
export class CouponAssignmentEvent {
  @Field(() => CouponAssignmentEventKind)
  kind!: CouponAssignmentEventKind;

  @Field(() => Date)
  at!: Date;

  @Field(() => String, { nullable: true, description: 'DELIVERY: SMS or PUSH.' })
  channel!: string | null;

  @Field(() => Int, { nullable: true, description: 'DELIVERY: 1 for the first attempt on the channel, 2 for the next, …' })
  attempt!: number | null;

  @Field(() => String, { nullable: true, description: 'DELIVERY: SENT, FAILED (given up) or RETRY (failed, tried again later).' })
  outcome!: string | null;

  @Field(() => Int, { nullable: true, description: 'DELIVERY: the gateway\'s HTTP status, when it answered.' })
  httpStatus!: number | null;

  @Field(() => String, { nullable: true, description: 'DELIVERY: why the attempt failed.' })
  error!: string | null;

  @Field(() => String, { nullable: true, description: 'REDEEMED, REDEMPTION_UNDONE: the order given with the redemption.' })
  orderId?: string | null;

  @Field(() => String, { nullable: true, description: 'REDEEMED, REDEMPTION_UNDONE: the redemption\'s id.' })
  redemptionId?: string | null;
}
