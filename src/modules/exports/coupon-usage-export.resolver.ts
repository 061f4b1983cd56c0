import { Arg, Authorized, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { AppContext } from '../../app-context.js';
import type { GraphQLContext } from '../graphql-context.js';
import { Allow } from '../auth/api-key-role.js';
import { CouponUsageExport } from './coupon-usage-export.entity.js';
import { CouponUsageExportService } from './coupon-usage-export.service.js';

@Resolver(() => CouponUsageExport)
export class CouponUsageExportResolver {
  private readonly couponUsageExportService: CouponUsageExportService;

  constructor(app: AppContext) {
    this.couponUsageExportService = app.get(CouponUsageExportService);
  }

  @Authorized(...Allow.READ_ALL)
  @Mutation(() => CouponUsageExport, {
    description:
      'Starts a CSV export of the list\'s assignments (external_id,user_id,coupon_code,assigned_at,redeemed_at,order_id), oldest first. ' +
      'Poll couponUsageExport until COMPLETED, then fetch downloadUrl.',
  })
  exportCouponUsage(
    @Arg('listId', () => ID) listId: string,
    @Arg('from', () => Date, { nullable: true, description: 'Only assignments made at or after this moment.' }) from: Date | null,
    @Arg('to', () => Date, { nullable: true, description: 'Only assignments made before this moment.' }) to: Date | null,
    @Arg('campaignId', () => ID, { nullable: true, description: 'Only assignments made through this campaign.' }) campaignId: string | null,
    @Ctx() { caller }: GraphQLContext,
  ): Promise<CouponUsageExport> {
    return this.couponUsageExportService.request({ listId, from, to, campaignId }, caller);
  }

  @Authorized(...Allow.READ_ALL)
  @Query(() => CouponUsageExport, { nullable: true })
  couponUsageExport(@Arg('id', () => ID) id: string): Promise<CouponUsageExport | null> {
    return this.couponUsageExportService.findById(id);
  }

  @FieldResolver(() => String, {
    nullable: true,
    description:
      'Set when COMPLETED and until fileExpiresAt: an absolute link, signed and valid for EXPORT_LINK_TTL_SECONDS, that ' +
      'downloads the CSV without a key. With "Authorization: Bearer <key>" (ADMIN or VIEWER) the same path works without the signature.',
  })
  downloadUrl(@Root() row: CouponUsageExport, @Ctx() { requestOrigin }: GraphQLContext): Promise<string | null> {
    return this.couponUsageExportService.downloadUrl(row, requestOrigin());
  }
}
