import type { ApiModule } from '../app-module.js';
import { CampaignResolver } from './campaign.resolver.js';

/** What the campaigns module adds to an API process. */
export const campaignsApi: ApiModule = {
  name: 'campaigns',
  resolvers: [CampaignResolver],
};
