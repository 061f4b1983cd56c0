import { Arg, Authorized, Ctx, ID, Int, Mutation, Query, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../graphql-context.js';
import { pagedFieldCost } from '../../infra/graphql/limits.js';
import { Allow } from '../auth/api-key-role.js';
import { CouponList, CouponListPage, CouponListStatus } from './coupon-list.entity.js';
import { CreateCouponListInput, UpdateCouponListInput } from './coupon-list.inputs.js';
import { CouponListService } from './coupon-list.service.js';

@Resolver(() => CouponList)
export class CouponListResolver {
  @Authorized(...Allow.READ_CATALOG)
  @Query(() => CouponListPage, { description: 'Lists, newest first, with cursor pagination.', complexity: pagedFieldCost(50, 500) })
  couponLists(
    @Arg('first', () => Int, { nullable: true, defaultValue: 50, description: 'Page size, 1-500.' }) first: number | null,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Arg('status', () => CouponListStatus, { nullable: true }) status: CouponListStatus | null,
    @Arg('search', () => String, { nullable: true, description: 'Case-insensitive part of the name.' }) search: string | null,
    @Ctx() { app }: GraphQLContext,
  ): Promise<CouponListPage> {
    return app.get(CouponListService).page({ first: first ?? 50, after, status, search });
  }

  @Authorized(...Allow.READ_CATALOG)
  @Query(() => CouponList, { nullable: true })
  couponList(@Arg('id', () => ID) id: string, @Ctx() { app }: GraphQLContext): Promise<CouponList | null> {
    return app.get(CouponListService).findById(id);
  }

  @Authorized(...Allow.MANAGE)
  @Mutation(() => CouponList)
  createCouponList(@Arg('input', () => CreateCouponListInput) input: CreateCouponListInput, @Ctx() { app }: GraphQLContext): Promise<CouponList> {
    return app.get(CouponListService).create(input);
  }

  @Authorized(...Allow.MANAGE)
  @Mutation(() => CouponList)
  updateCouponList(
    @Arg('id', () => ID) id: string,
    @Arg('input', () => UpdateCouponListInput) input: UpdateCouponListInput,
    @Ctx() { app }: GraphQLContext,
  ): Promise<CouponList> {
    return app.get(CouponListService).update(id, input);
  }
}
