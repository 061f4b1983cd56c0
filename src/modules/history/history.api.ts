import type { ApiModule } from '../app-module.js';
import { CouponHistoryResolver } from './coupon-history.resolver.js';

/** What the history module adds to an API process. */
export const historyApi: ApiModule = {
  name: 'history',
  resolvers: [CouponHistoryResolver],
};
