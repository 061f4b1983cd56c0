import type { ApiModule } from '../app-module.js';
import { CouponAssignmentDeliveryResolver } from './coupon-assignment-delivery.resolver.js';
import { CouponListDeliveryResolver } from './coupon-list-delivery.resolver.js';
import { DeliveryResolver } from './delivery.resolver.js';

/** What the delivery module adds to an API process. */
export const deliveryApi: ApiModule = {
  name: 'delivery',
  resolvers: [DeliveryResolver, CouponListDeliveryResolver, CouponAssignmentDeliveryResolver],
};
