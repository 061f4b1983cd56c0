import type { ApiModule } from '../app-module.js';
import { ApiKeyResolver } from './api-key.resolver.js';

/** What the auth module adds to an API process. */
export const authApi: ApiModule = {
  name: 'auth',
  resolvers: [ApiKeyResolver],
};
