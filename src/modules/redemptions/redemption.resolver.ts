import { Arg, Authorized, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { AppContext } from '../../app-context.js';
import type { GraphQLContext } from '../graphql-context.js';
import { Allow } from '../auth/api-key-role.js';
import { CouponAssignment } from '../claims/coupon-assignment.entity.js';
import { BatchLoader, requestLoader } from '../../common/request-loader.js';
import { CodeLookupService } from './code-lookup.service.js';
import { RedemptionService } from './redemption.service.js';
import { CouponCodeInfo, RedeemCouponInput, Redemption } from './redemption.types.js';

@Resolver(() => Redemption)
export class RedemptionResolver {
  private readonly codeLookupService: CodeLookupService;
  private readonly redemptionService: RedemptionService;

  constructor(app: AppContext) {
    this.codeLookupService = app.get(CodeLookupService);
    this.redemptionService = app.get(RedemptionService);
  }

  @Authorized(...Allow.READ_ALL)
  @Query(() => [CouponCodeInfo], { description: 'Every list holding exactly this code (case-sensitive), with its state, latest assignment and live redemption.' })
  couponCode(
    @Arg('code') code: string,
    @Arg('listId', () => ID, { nullable: true }) listId: string | null,
  ): Promise<CouponCodeInfo[]> {
    return this.codeLookupService.lookup(code, listId ?? null);
  }

  @Authorized(...Allow.CLAIM)
  @Mutation(() => Redemption, {
    description: 'Marks the code used by the user it was assigned to. Again: ALREADY_REDEEMED, unless with the same orderId (then the same redemption).',
  })
  redeemCoupon(@Arg('input', () => RedeemCouponInput) input: RedeemCouponInput, @Ctx() { caller }: GraphQLContext): Promise<Redemption> {
    return this.redemptionService.redeem(caller!, input);
  }

  @Authorized(...Allow.CLAIM)
  @Mutation(() => Redemption, { description: 'A cancelled order: the redemption is undone and the user may redeem the code again (it does not return to the pool).' })
  undoRedemption(@Arg('id', () => ID) id: string, @Ctx() { caller }: GraphQLContext): Promise<Redemption> {
    return this.redemptionService.undo(caller!, id);
  }
}

@Resolver(() => CouponAssignment)
export class CouponAssignmentRedemptionResolver {
  private readonly redemptionService: RedemptionService;

  constructor(app: AppContext) {
    this.redemptionService = app.get(RedemptionService);
  }

  @Authorized(...Allow.READ_ALL)
  @FieldResolver(() => Redemption, { nullable: true, description: 'The live redemption of this assignment, if any.' })
  redemption(@Root() assignment: CouponAssignment, @Ctx() context: GraphQLContext): Promise<Redemption | null> {
    return requestLoader(
      context,
      'assignment-redemption',
      () => new BatchLoader<string, Redemption | null>((ids) => this.redemptionService.liveFor(ids), () => null),
    ).load(assignment.id);
  }
}
