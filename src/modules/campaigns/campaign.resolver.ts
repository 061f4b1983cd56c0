import { Arg, Authorized, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { GraphQLContext } from '../../infra/graphql/context.js';
import { Allow } from '../auth/api-key-role.js';
import { CouponList } from '../lists/coupon-list.entity.js';
import { Campaign, CampaignStatus, CreateCampaignInput } from './campaign.entity.js';
import { CampaignService } from './campaign.service.js';

@Resolver(() => Campaign)
export class CampaignResolver {
  @Authorized(...Allow.READ_CATALOG)
  @Query(() => Campaign, { nullable: true })
  campaign(@Arg('id', () => ID) id: string, @Ctx() { app }: GraphQLContext): Promise<Campaign | null> {
    return app.get(CampaignService).findById(id);
  }

  @Authorized(...Allow.READ_CATALOG)
  @Query(() => [Campaign], { description: 'Campaigns, newest first.' })
  campaigns(@Arg('status', () => CampaignStatus, { nullable: true }) status: CampaignStatus | null, @Ctx() { app }: GraphQLContext): Promise<Campaign[]> {
    return app.get(CampaignService).list(status);
  }

  @Authorized(...Allow.MANAGE)
  @Mutation(() => Campaign)
  createCampaign(@Arg('input', () => CreateCampaignInput) input: CreateCampaignInput, @Ctx() { app }: GraphQLContext): Promise<Campaign> {
    return app.get(CampaignService).create(input);
  }

  @Authorized(...Allow.MANAGE)
  @Mutation(() => Campaign)
  finishCampaign(@Arg('id', () => ID) id: string, @Ctx() { app }: GraphQLContext): Promise<Campaign> {
    return app.get(CampaignService).finish(id);
  }

  @FieldResolver(() => [CouponList], { description: 'The lists in their order.' })
  lists(@Root() campaign: Campaign, @Ctx() { app }: GraphQLContext): Promise<CouponList[]> {
    return app.get(CampaignService).listsOf(campaign.id);
  }
}
