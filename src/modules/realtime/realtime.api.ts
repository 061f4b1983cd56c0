import type { ApiModule } from '../app-module.js';
import { LiveUpdatesResolver } from './live-updates.resolver.js';

/** What the realtime module adds to an API process. */
export const realtimeApi: ApiModule = {
  name: 'realtime',
  resolvers: [LiveUpdatesResolver],
};
