import type { AppModule } from '../app-module.js';
import { CouponHistoryResolver } from './coupon-history.resolver.js';

export const historyModule: AppModule = {
  name: 'history',
  resolvers: [CouponHistoryResolver],
};
