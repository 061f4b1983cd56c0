import type { CampaignKind, CampaignStatus, FinishReason } from '../campaigns/campaign.entity.js';
import type { LowStockAlertFigures } from '../alerts/low-stock.events.js';

/**
 * Redis pub/sub topics between the processes that change things (API and workers) and the API
 * processes that hold WebSocket subscribers. Dates travel as ISO strings and come back as Dates.
 */
export const LiveTopic = {
  /** Lists whose stock or status changed; subscribers' processes read the figures themselves. */
  LIST_CHANGES: 'live.list-changes',
  LOW_STOCK_ALERTS: 'live.low-stock-alerts',
  CAMPAIGN_STATUS: 'live.campaign-status',
} as const;

/** One message per publishing process per batch window: every list it changed since the last. */
export interface ListChangesMessage {
  lists: Array<{ listId: string; at: Date }>;
}

export type LowStockAlertMessage = LowStockAlertFigures;

export interface CampaignStatusMessage {
  id: string;
  name: string;
  kind: CampaignKind;
  status: CampaignStatus;
  finishReason: FinishReason | null;
  finishedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}
