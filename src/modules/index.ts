import type { AppModule } from './app-module.js';
import { authModule } from './auth/auth.module.js';
import { campaignsModule } from './campaigns/campaigns.module.js';
import { claimsModule } from './claims/claims.module.js';
import { deliveryModule } from './delivery/delivery.module.js';
import { distributionModule } from './distribution/distribution.module.js';
import { exportsModule } from './exports/exports.module.js';
import { historyModule } from './history/history.module.js';
import { listsModule } from './lists/lists.module.js';
import { realtimeModule } from './realtime/realtime.module.js';
import { alertsModule } from './alerts/alerts.module.js';
import { expiryModule } from './expiry/expiry.module.js';
import { uploadsModule } from './uploads/uploads.module.js';
import { redemptionsModule } from './redemptions/redemptions.module.js';
import { webhooksModule } from './webhooks/webhooks.module.js';

/** Every domain module of the service. A new domain folder adds its module here (and its API parts to api-index.ts). */
export const appModules: AppModule[] = [authModule, listsModule, campaignsModule, claimsModule, exportsModule, historyModule, deliveryModule, distributionModule, realtimeModule, alertsModule, expiryModule, uploadsModule, redemptionsModule, webhooksModule];
