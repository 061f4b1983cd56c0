import type { ApiModule } from './app-module.js';
import { authApi } from './auth/auth.api.js';
import { campaignsApi } from './campaigns/campaigns.api.js';
import { claimsApi } from './claims/claims.api.js';
import { deliveryApi } from './delivery/delivery.api.js';
import { distributionApi } from './distribution/distribution.api.js';
import { exportsApi } from './exports/exports.api.js';
import { historyApi } from './history/history.api.js';
import { listsApi } from './lists/lists.api.js';
import { realtimeApi } from './realtime/realtime.api.js';
import { redemptionsApi } from './redemptions/redemptions.api.js';
import { uploadsApi } from './uploads/uploads.api.js';
import { webhooksApi } from './webhooks/webhooks.api.js';

/** The API parts of the domain modules (resolvers, routes); loaded only by API processes. */
export const apiModules: ApiModule[] = [authApi, listsApi, campaignsApi, claimsApi, exportsApi, historyApi, deliveryApi, distributionApi, realtimeApi, uploadsApi, redemptionsApi, webhooksApi];
