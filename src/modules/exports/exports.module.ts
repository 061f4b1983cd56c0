import type { AppModule } from '../app-module.js';
import { CouponUsageExport } from './coupon-usage-export.entity.js';
import { CouponUsageExportResolver } from './coupon-usage-export.resolver.js';
import { CouponUsageExportService } from './coupon-usage-export.service.js';
import { mountDownloadRoute } from './download.route.js';

export const exportsModule: AppModule = {
  name: 'exports',
  entities: [CouponUsageExport],
  resolvers: [CouponUsageExportResolver],
  startWorkers: (app) => app.get(CouponUsageExportService).startWorkers(),
  httpRoutes(router, app) {
    mountDownloadRoute(router, app);
  },
};
