import type { AppModule } from '../app-module.js';
import { ClaimDatabase } from './claim-database.js';
import { ClaimService } from './claim.service.js';
import { CouponAssignment } from './coupon-assignment.entity.js';
import { FinishedCampaigns } from './finished-campaigns.js';

export const claimsModule: AppModule = {
  name: 'claims',
  entities: [CouponAssignment],
  onInit(app) {
    app.get(FinishedCampaigns).start();
    // Opened in the background (the first claim waits for it if need be).
    app.get(ClaimDatabase).open().catch((error: unknown) => app.logger.warn({ err: error }, 'claim connection pool not opened yet; claims will retry'));
    // Claims already received are answered before their connection pool closes. Registered
    // after every module's onInit: shutdown hooks run latest first, so the claims' last events
    // reach the other modules before those flush and stop.
    setImmediate(() =>
      app.onShutdown(async () => {
        await app.get(ClaimService).drained();
        await app.get(ClaimDatabase).close();
      }),
    );
  },
};
