import { Field, ID, Int, ObjectType } from 'type-graphql';
import { CouponListStatus } from '../lists/coupon-list.entity.js';

@ObjectType({ description: "A list's stock figures; at most one every 250 ms per list, the last one carries the final figures." })
export class AvailabilityUpdate {
  @Field(() => ID)
  listId!: string;

  @Field(() => Int)
  totalCodes!: number;

  @Field(() => Int)
  assignedCodes!: number;

  @Field(() => Int)
  availableCodes!: number;

  @Field(() => CouponListStatus)
  status!: CouponListStatus;

  @Field(() => Date, { description: 'When the latest change included in these figures happened.' })
  at!: Date;
}

@ObjectType({ description: 'A list reached its warning limit (once per crossing).' })
export class LowStockAlert {
  @Field(() => ID)
  listId!: string;

  @Field()
  listName!: string;

  @Field(() => Int)
  availableCodes!: number;

  @Field(() => Int)
  warningLimit!: number;

  @Field(() => Date)
  at!: Date;
}
