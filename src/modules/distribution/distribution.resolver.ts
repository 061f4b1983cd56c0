import { Arg, Authorized, ID, Mutation, Query, Resolver } from 'type-graphql';
import type { AppContext } from '../../app-context.js';
import { Allow } from '../auth/api-key-role.js';
import { DistributionJob } from './distribution-job.entity.js';
import { DistributionServices } from './distribution-services.js';

@Resolver()
export class DistributionResolver {
  private readonly distributionServices: DistributionServices;

  constructor(app: AppContext) {
    this.distributionServices = app.get(DistributionServices);
  }

  @Authorized(...Allow.MANAGE)
  @Mutation(() => DistributionJob, {
    description: 'AUTOMATED campaigns: claims a code for each user (at most 10,000 per call) and sends it on the enabled channels, as a background job.',
  })
  distributeCoupons(
    @Arg('campaignId', () => ID) campaignId: string,
    @Arg('userIds', () => [String]) userIds: string[],
  ): Promise<DistributionJob> {
    return this.distributionServices.distributions.start(campaignId, userIds);
  }

  @Authorized(...Allow.READ_ALL)
  @Query(() => DistributionJob, { nullable: true })
  distributionJob(@Arg('id', () => ID) id: string): Promise<DistributionJob | null> {
    return this.distributionServices.distributions.find(id);
  }
}
