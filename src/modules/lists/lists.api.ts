import type { ApiModule } from '../app-module.js';
import { CouponListResolver } from './coupon-list.resolver.js';

/** What the lists module adds to an API process. */
export const listsApi: ApiModule = {
  name: 'lists',
  resolvers: [CouponListResolver],
};
