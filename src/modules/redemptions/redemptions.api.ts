import type { ApiModule } from '../app-module.js';
import { CouponAssignmentRedemptionResolver, RedemptionResolver } from './redemption.resolver.js';

/** What the redemptions module adds to an API process. */
export const redemptionsApi: ApiModule = {
  name: 'redemptions',
  resolvers: [RedemptionResolver, CouponAssignmentRedemptionResolver],
};
