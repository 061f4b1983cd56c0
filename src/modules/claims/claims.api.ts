import type { ApiModule } from '../app-module.js';
import { ClaimResolver } from './claim.resolver.js';

/** What the claims module adds to an API process. */
export const claimsApi: ApiModule = {
  name: 'claims',
  resolvers: [ClaimResolver],
};
