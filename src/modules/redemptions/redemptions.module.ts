import type { AppModule } from '../app-module.js';

/** Code lookup and redemption at checkout (its API parts are in redemptions.api.ts). */
export const redemptionsModule: AppModule = {
  name: 'redemptions',
};
