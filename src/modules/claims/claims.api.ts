import type { ApiModule } from '../app-module.js';
import { ClaimResolver } from './claim.resolver.js';
import { finishedCampaignClaims } from './finished-campaign-claims.js';

/** What the claims module adds to an API process. */
export const claimsApi: ApiModule = {
  name: 'claims',
  resolvers: [ClaimResolver],
  apolloPlugins: (app) => [finishedCampaignClaims(app)],
};
