import type { AppContext } from '../../app-context.js';
import { CampaignService } from '../campaigns/campaign.service.js';
import { ClaimService } from '../claims/claim.service.js';
import { DistributionService } from './distribution.service.js';
import { InteractiveLoad } from './interactive-load.js';

/**
 * The distribution module's services of one process, each given what it uses: built once, on
 * first `app.get(DistributionServices)` (the module's hooks and its resolver).
 */
export class DistributionServices {
  readonly interactiveLoad: InteractiveLoad;
  readonly distributions: DistributionService;

  constructor(app: AppContext) {
    this.interactiveLoad = new InteractiveLoad(app);
    this.distributions = new DistributionService(app, app.get(CampaignService), app.get(ClaimService), this.interactiveLoad);
  }
}
