import { Authorized, Ctx, FieldResolver, Resolver, Root } from 'type-graphql';
import type { AppContext } from '../../app-context.js';
import type { GraphQLContext } from '../graphql-context.js';
import { Allow } from '../auth/api-key-role.js';
import { CouponAssignment } from '../claims/coupon-assignment.entity.js';
import { Delivery } from './delivery.entity.js';
import { DeliveryServices } from './delivery-services.js';
import { BatchLoader, requestLoader } from '../../common/request-loader.js';

@Resolver(() => CouponAssignment)
export class CouponAssignmentDeliveryResolver {
  private readonly deliveryServices: DeliveryServices;

  constructor(app: AppContext) {
    this.deliveryServices = app.get(DeliveryServices);
  }

  @Authorized(...Allow.READ_ALL)
  @FieldResolver(() => [Delivery], { description: 'The SMS and push sends of this assignment (none when its list sends nothing).' })
  deliveries(@Root() assignment: CouponAssignment, @Ctx() context: GraphQLContext): Promise<Delivery[]> {
    // One query for every assignment of the response (e.g. all of userCoupons).
    return requestLoader(
      context,
      'assignment-deliveries',
      () => new BatchLoader<string, Delivery[]>((ids) => this.deliveryServices.deliveries.deliveriesFor(ids), () => []),
    ).load(assignment.id);
  }
}
