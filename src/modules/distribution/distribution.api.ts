import type { ApiModule } from '../app-module.js';
import { DistributionResolver } from './distribution.resolver.js';

/** What the distribution module adds to an API process. */
export const distributionApi: ApiModule = {
  name: 'distribution',
  resolvers: [DistributionResolver],
};
