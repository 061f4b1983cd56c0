import { Arg, Authorized, Ctx, Mutation, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../graphql-context.js';
import { Allow } from '../auth/api-key-role.js';
import { ClaimCouponInput } from './claim.inputs.js';
import { ClaimService } from './claim.service.js';
import { CouponAssignment } from './coupon-assignment.entity.js';

@Resolver(() => CouponAssignment)
export class ClaimResolver {
  @Authorized(...Allow.CLAIM)
  @Mutation(() => CouponAssignment, {
    description: "Hands a code to the user; within the claim window of the user's last new code from the campaign, that same assignment (reused: true).",
  })
  claimCoupon(@Arg('input', () => ClaimCouponInput) input: ClaimCouponInput, @Ctx() { app, caller }: GraphQLContext): Promise<CouponAssignment> {
    return app.get(ClaimService).claimAs(caller!, input);
  }
}
