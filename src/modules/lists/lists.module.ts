import type { AppModule } from '../app-module.js';
import { CouponList } from './coupon-list.entity.js';

export const listsModule: AppModule = {
  name: 'lists',
  entities: [CouponList],
};
