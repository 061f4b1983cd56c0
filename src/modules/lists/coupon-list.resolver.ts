import { Arg, Authorized, ID, Int, Mutation, Query, Resolver } from 'type-graphql';
import type { AppContext } from '../../app-context.js';
import { pagedFieldCost } from '../../infra/graphql/limits.js';
import { Allow } from '../auth/api-key-role.js';
import { CouponList, CouponListPage, CouponListStatus } from './coupon-list.entity.js';
import { CreateCouponListInput, UpdateCouponListInput } from './coupon-list.inputs.js';
import { CouponListService } from './coupon-list.service.js';

@Resolver(() => CouponList)
export class CouponListResolver {
  private readonly couponListService: CouponListService;

  constructor(app: AppContext) {
    this.couponListService = app.get(CouponListService);
  }

  @Authorized(...Allow.READ_CATALOG)
  @Query(() => CouponListPage, { description: 'Lists, newest first, with cursor pagination.', complexity: pagedFieldCost(50, 500) })
  couponLists(
    @Arg('first', () => Int, { nullable: true, defaultValue: 50, description: 'Page size, 1-500.' }) first: number | null,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Arg('status', () => CouponListStatus, { nullable: true }) status: CouponListStatus | null,
    @Arg('search', () => String, { nullable: true, description: 'Case-insensitive part of the name.' }) search: string | null,
  ): Promise<CouponListPage> {
    return this.couponListService.page({ first: first ?? 50, after, status, search });
  }

  @Authorized(...Allow.READ_CATALOG)
  @Query(() => CouponList, { nullable: true })
  couponList(@Arg('id', () => ID) id: string): Promise<CouponList | null> {
    return this.couponListService.findById(id);
  }

  @Authorized(...Allow.MANAGE)
  @Mutation(() => CouponList)
  createCouponList(@Arg('input', () => CreateCouponListInput) input: CreateCouponListInput): Promise<CouponList> {
    return this.couponListService.create(input);
  }

  @Authorized(...Allow.MANAGE)
  @Mutation(() => CouponList)
  updateCouponList(
    @Arg('id', () => ID) id: string,
    @Arg('input', () => UpdateCouponListInput) input: UpdateCouponListInput,
  ): Promise<CouponList> {
    return this.couponListService.update(id, input);
  }
}
