import type { AppContext } from '../../app-context.js';
import { CampaignStatus } from '../campaigns/campaign.entity.js';
import { CampaignStatusChanged } from '../campaigns/campaign.events.js';
import { CampaignService } from '../campaigns/campaign.service.js';
import { LowStockAlertRaised } from '../alerts/low-stock.events.js';
import { CouponListStockChanged } from '../lists/coupon-list.events.js';
import { LiveTopic, type CampaignStatusMessage, type ListChangesMessage } from './topics.js';

/** Stock changes of one process are sent to Redis at most this often, all lists in one message. */
export const LIST_CHANGES_BATCH_MS = 25;

/**
 * Runs in every process (API and workers): forwards committed domain events from the in-process
 * event bus to Redis pub/sub, where the API processes holding subscribers pick them up.
 *
 * Stock changes are coalesced per process: a claim only marks its list as changed in a map;
 * one message every LIST_CHANGES_BATCH_MS carries the ids of every list changed since the last
 * message, so the claim path never waits on Redis and 3,000 claims/s cost ≤ 40 publishes/s.
 * The message carries no figures: the receiving API processes read the committed figures, which
 * keeps the last update correct however messages from several processes interleave.
 */
export class LiveEventForwarder {
  private readonly changedLists = new Map<string, Date>();
  private timer: NodeJS.Timeout | null = null;
  private lastPublishAt = 0;
  private campaignChain: Promise<void> = Promise.resolve();
  private started = false;

  constructor(
    private readonly app: AppContext,
    private readonly campaigns: CampaignService = app.get(CampaignService),
  ) {}

  start(): void {
    if (this.started) return;
    this.started = true;
    const { eventBus } = this.app;
    eventBus.on(CouponListStockChanged, (event) => this.listChanged(event.list.id, event.occurredAt));
    eventBus.on(LowStockAlertRaised, (event) => this.app.pubSub.publish(LiveTopic.LOW_STOCK_ALERTS, event.alert));
    // In order per process: a campaign created and finished at once must not arrive FINISHED, then ACTIVE.
    eventBus.on(CampaignStatusChanged, (event) => {
      this.campaignChain = this.campaignChain.then(() => this.forwardCampaign(event)).catch((error: unknown) =>
        this.app.logger.warn({ err: error, campaignId: event.campaignId }, 'campaign status not forwarded'),
      );
      return this.campaignChain;
    });
    this.app.onShutdown(() => this.flush());
  }

  listChanged(listId: string, at: Date): void {
    const known = this.changedLists.get(listId);
    if (!known || known < at) this.changedLists.set(listId, at);
    if (this.timer) return;
    const delay = Math.max(0, this.lastPublishAt + LIST_CHANGES_BATCH_MS - Date.now());
    this.timer = setTimeout(() => this.flush(), delay);
    this.timer.unref();
  }

  /** Publishes what is pending now. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.changedLists.size === 0) return;
    const message: ListChangesMessage = { lists: [...this.changedLists].map(([listId, at]) => ({ listId, at })) };
    this.changedLists.clear();
    this.lastPublishAt = Date.now();
    this.app.pubSub.publish(LiveTopic.LIST_CHANGES, message);
  }

  private async forwardCampaign(event: CampaignStatusChanged): Promise<void> {
    const campaign = await this.campaigns.findById(event.campaignId);
    if (!campaign) return;
    // The event's status wins over the row read now, which may already be a later state.
    const finished = event.status === CampaignStatus.FINISHED;
    const message: CampaignStatusMessage = {
      id: campaign.id,
      name: campaign.name,
      kind: campaign.kind,
      status: event.status,
      finishReason: finished ? event.finishReason : null,
      finishedAt: finished ? (campaign.finishedAt ?? event.occurredAt) : null,
      createdAt: campaign.createdAt,
      updatedAt: campaign.updatedAt,
    };
    this.app.pubSub.publish(LiveTopic.CAMPAIGN_STATUS, message);
  }
}
