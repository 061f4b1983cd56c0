import type { ApiModule } from '../app-module.js';
import { CouponUsageExportResolver } from './coupon-usage-export.resolver.js';
import { mountDownloadRoute } from './download.route.js';

/** What the exports module adds to an API process. */
export const exportsApi: ApiModule = {
  name: 'exports',
  resolvers: [CouponUsageExportResolver],
  httpRoutes(router, app) {
    mountDownloadRoute(router, app);
  },
};
