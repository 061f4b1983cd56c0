import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Authorized, Ctx, Info, Mutation, Resolver } from 'type-graphql';
import type { AppContext } from '../../app-context.js';
import { locatedDomainError } from '../../infra/graphql/located-error.js';
import type { GraphQLContext } from '../graphql-context.js';
import { Allow } from '../auth/api-key-role.js';
import { ClaimCouponInput } from './claim.inputs.js';
import { ClaimService } from './claim.service.js';
import { CouponAssignment } from './coupon-assignment.entity.js';
import { takeEarlierClaimAnswer } from './finished-campaign-claims.js';

@Resolver(() => CouponAssignment)
export class ClaimResolver {
  private readonly claimService: ClaimService;

  constructor(app: AppContext) {
    this.claimService = app.get(ClaimService);
  }

  @Authorized(...Allow.CLAIM)
  @Mutation(() => CouponAssignment, {
    description: "Hands a code to the user; within the claim window of the user's last new code from the campaign, that same assignment (reused: true).",
  })
  claimCoupon(
    @Arg('input', () => ClaimCouponInput) input: ClaimCouponInput,
    @Ctx() context: GraphQLContext,
    @Info() info: GraphQLResolveInfo,
  ): Promise<CouponAssignment> {
    // A claim in a finished campaign may have been answered before execution (finished-campaign-claims.ts).
    const answer = takeEarlierClaimAnswer(context) ?? this.claimService.claimAs(context.caller!, input);
    // A refusal (a finished campaign, an exhausted list) is a frequent answer, not a fault.
    return answer.catch((error: unknown) => Promise.reject(locatedDomainError(error, info)));
  }
}
