import { Field, InputType, Int } from 'type-graphql';
import { CouponListKind } from './coupon-list.entity.js';

@InputType()
export class CreateCouponListInput {
  @Field()
  name!: string;

  @Field(() => CouponListKind)
  kind!: CouponListKind;

  @Field(() => String, { nullable: true, description: 'Required for FIXED lists.' })
  fixedCode?: string | null;

  @Field(() => Int, { nullable: true, description: 'Required for FIXED lists: how many times the code can be assigned.' })
  fixedLimit?: number | null;

  @Field(() => Int, { nullable: true })
  warningLimit?: number | null;

  @Field(() => [String], { nullable: true })
  alertEmails?: string[] | null;

  @Field(() => Date, { nullable: true })
  expiresAt?: Date | null;
}

/** Absent fields are left as they are; `null` clears warningLimit and expiresAt. */
@InputType()
export class UpdateCouponListInput {
  @Field(() => String, { nullable: true })
  name?: string | null;

  @Field(() => String, { nullable: true, description: 'FIXED lists only.' })
  fixedCode?: string | null;

  @Field(() => Int, { nullable: true, description: 'FIXED lists only; not below assignedCodes.' })
  fixedLimit?: number | null;

  @Field(() => Int, { nullable: true })
  warningLimit?: number | null;

  @Field(() => [String], { nullable: true })
  alertEmails?: string[] | null;

  @Field(() => Date, { nullable: true, description: 'null removes the expiry.' })
  expiresAt?: Date | null;
}
