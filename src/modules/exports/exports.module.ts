import type { AppModule } from '../app-module.js';
import { CouponUsageExport } from './coupon-usage-export.entity.js';
import { CouponUsageExportService } from './coupon-usage-export.service.js';

export const exportsModule: AppModule = {
  name: 'exports',
  entities: [CouponUsageExport],
  startWorkers: (app) => app.get(CouponUsageExportService).startWorkers(),
};
