import { Arg, Authorized, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { AppContext } from '../../app-context.js';
import { BatchLoader, requestLoader } from '../../common/request-loader.js';
import type { GraphQLContext } from '../graphql-context.js';
import { pagedFieldCost } from '../../infra/graphql/limits.js';
import { Allow } from '../auth/api-key-role.js';
import { CouponList } from '../lists/coupon-list.entity.js';
import { Campaign, CampaignStatus, CreateCampaignInput } from './campaign.entity.js';
import { CampaignService, DEFAULT_CAMPAIGN_PAGE, MAX_CAMPAIGN_PAGE } from './campaign.service.js';

@Resolver(() => Campaign)
export class CampaignResolver {
  private readonly campaignService: CampaignService;

  constructor(app: AppContext) {
    this.campaignService = app.get(CampaignService);
  }

  @Authorized(...Allow.READ_CATALOG)
  @Query(() => Campaign, { nullable: true })
  campaign(@Arg('id', () => ID) id: string): Promise<Campaign | null> {
    return this.campaignService.findById(id);
  }

  @Authorized(...Allow.READ_CATALOG)
  @Query(() => [Campaign], {
    description: `Campaigns, newest first, in pages of \`first\` (1 to ${MAX_CAMPAIGN_PAGE}); for the next page pass the id of the last campaign received as \`after\`.`,
    complexity: pagedFieldCost(DEFAULT_CAMPAIGN_PAGE, MAX_CAMPAIGN_PAGE),
  })
  campaigns(
    @Arg('status', () => CampaignStatus, { nullable: true }) status: CampaignStatus | null,
    @Arg('first', () => Int, { nullable: true, defaultValue: DEFAULT_CAMPAIGN_PAGE, description: `Page size, 1 to ${MAX_CAMPAIGN_PAGE}.` }) first: number | null,
    @Arg('after', () => ID, { nullable: true, description: 'The id of the last campaign of the previous page.' }) after: string | null,
  ): Promise<Campaign[]> {
    return this.campaignService.list(status, first ?? DEFAULT_CAMPAIGN_PAGE, after);
  }

  @Authorized(...Allow.MANAGE)
  @Mutation(() => Campaign)
  createCampaign(@Arg('input', () => CreateCampaignInput) input: CreateCampaignInput): Promise<Campaign> {
    return this.campaignService.create(input);
  }

  @Authorized(...Allow.MANAGE)
  @Mutation(() => Campaign)
  finishCampaign(@Arg('id', () => ID) id: string): Promise<Campaign> {
    return this.campaignService.finish(id);
  }

  @FieldResolver(() => [CouponList], { description: 'The lists in their order.' })
  lists(@Root() campaign: Campaign, @Ctx() context: GraphQLContext): Promise<CouponList[]> {
    // The lists of every campaign in the response in one query.
    return requestLoader(context, 'campaign-lists', () => new BatchLoader<string, CouponList[]>((ids) => this.campaignService.listsOfMany(ids), () => [])).load(campaign.id);
  }
}
