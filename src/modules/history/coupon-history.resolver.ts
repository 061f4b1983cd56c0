import { Arg, Authorized, Ctx, FieldResolver, Int, Query, Resolver, Root } from 'type-graphql';
import type { AppContext } from '../../app-context.js';
import type { GraphQLContext } from '../graphql-context.js';
import { pagedFieldCost } from '../../infra/graphql/limits.js';
import { Allow, type ApiKeyRole } from '../auth/api-key-role.js';
import { CouponAssignment } from '../claims/coupon-assignment.entity.js';
import { CouponAssignmentEvent } from './coupon-assignment-event.js';
import { historyLoader } from './history-loader.js';
import { CouponHistoryService } from './coupon-history.service.js';

@Resolver(() => CouponAssignment)
export class CouponHistoryResolver {
  private readonly couponHistoryService: CouponHistoryService;

  constructor(app: AppContext) {
    this.couponHistoryService = app.get(CouponHistoryService);
  }

  @Authorized(...Allow.READ_ALL)
  @Query(() => [CouponAssignment], {
    description:
      'A user\'s coupons, newest first, over all campaigns and lists. Pages of `first` (at most 500); for the next page pass ' +
      'the id of the last assignment received as `after`. Each is the original assignment (reused: false); the times the ' +
      'claim window handed it back are in its history.',
    complexity: pagedFieldCost(100, 500),
  })
  userCoupons(
    @Arg('userId') userId: string,
    @Arg('first', () => Int, { nullable: true, defaultValue: 100, description: 'Page size, 1 to 500.' }) first: number | null,
    @Arg('after', () => String, { nullable: true, description: 'The id of the last assignment of the previous page.' }) after: string | null,
  ): Promise<CouponAssignment[]> {
    return this.couponHistoryService.userCoupons(userId, first ?? 100, after);
  }

  @FieldResolver(() => [CouponAssignmentEvent], {
    description:
      'Oldest first: ASSIGNED, each REUSED, each DELIVERY attempt, and EXPIRES at the list\'s expiry. ' +
      'httpStatus and error of DELIVERY entries only for ADMIN and VIEWER keys.',
  })
  async history(@Root() assignment: CouponAssignment, @Ctx() context: GraphQLContext): Promise<CouponAssignmentEvent[]> {
    const events = await historyLoader(context).load(assignment);
    // Delivery internals (the gateway's status and error text) are for dashboards and admins, not widget backends.
    if (context.caller && (Allow.READ_ALL as readonly ApiKeyRole[]).includes(context.caller.role)) return events;
    return events.map((event) => (event.httpStatus === null && event.error === null ? event : Object.assign(new CouponAssignmentEvent(), event, { httpStatus: null, error: null })));
  }
}
