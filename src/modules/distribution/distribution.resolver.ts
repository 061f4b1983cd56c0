import { Arg, Authorized, Ctx, ID, Mutation, Query, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../graphql-context.js';
import { Allow } from '../auth/api-key-role.js';
import { DistributionJob } from './distribution-job.entity.js';
import { DistributionServices } from './distribution-services.js';

@Resolver()
export class DistributionResolver {
  @Authorized(...Allow.MANAGE)
  @Mutation(() => DistributionJob, {
    description: 'AUTOMATED campaigns: claims a code for each user (at most 10,000 per call) and sends it on the enabled channels, as a background job.',
  })
  distributeCoupons(
    @Arg('campaignId', () => ID) campaignId: string,
    @Arg('userIds', () => [String]) userIds: string[],
    @Ctx() { app }: GraphQLContext,
  ): Promise<DistributionJob> {
    return app.get(DistributionServices).distributions.start(campaignId, userIds);
  }

  @Authorized(...Allow.READ_ALL)
  @Query(() => DistributionJob, { nullable: true })
  distributionJob(@Arg('id', () => ID) id: string, @Ctx() { app }: GraphQLContext): Promise<DistributionJob | null> {
    return app.get(DistributionServices).distributions.find(id);
  }
}
