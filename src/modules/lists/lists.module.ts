import type { AppModule } from '../app-module.js';
import { CouponList } from './coupon-list.entity.js';
import { CouponListResolver } from './coupon-list.resolver.js';

export const listsModule: AppModule = {
  name: 'lists',
  entities: [CouponList],
  resolvers: [CouponListResolver],
};
