import type { AppModule } from '../app-module.js';
import { CouponAssignmentRedemptionResolver, RedemptionResolver } from './redemption.resolver.js';

/** Code lookup and redemption at checkout. */
export const redemptionsModule: AppModule = {
  name: 'redemptions',
  resolvers: [RedemptionResolver, CouponAssignmentRedemptionResolver],
};
