import { ForbiddenError } from '../../common/errors.js';
import type { Caller } from './caller.js';

/** A CLIENT key with campaign scopes may claim and redeem only in those campaigns (none = all). */
export function assertCampaignAllowed(caller: Caller, campaignId: string): void {
  const scopes = caller.campaignIds ?? [];
  if (scopes.length > 0 && !scopes.includes(String(campaignId))) {
    throw new ForbiddenError(`This API key may not be used in campaign ${campaignId}`);
  }
}
