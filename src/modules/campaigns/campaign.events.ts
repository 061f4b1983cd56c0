import { DomainEvent } from '../../infra/events/event-bus.js';
import type { CampaignStatus, FinishReason } from './campaign.entity.js';

/** A campaign was created or changed status (finished by exhaustion, expiry or by hand). */
export class CampaignStatusChanged extends DomainEvent {
  constructor(
    readonly campaignId: string,
    readonly status: CampaignStatus,
    readonly finishReason: FinishReason | null,
  ) {
    super();
  }
}
