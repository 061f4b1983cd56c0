import type { AppModule } from './app-module.js';
import { authModule } from './auth/auth.module.js';
import { campaignsModule } from './campaigns/campaigns.module.js';
import { listsModule } from './lists/lists.module.js';

/** Every domain module of the service. A new domain folder adds its module here. */
export const appModules: AppModule[] = [authModule, listsModule, campaignsModule];
