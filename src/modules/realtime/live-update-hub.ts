import type { AppContext } from '../../app-context.js';
import { BadUserInputError, NotFoundError } from '../../common/errors.js';
import { isRowId } from '../../common/ids.js';
import { Campaign } from '../campaigns/campaign.entity.js';
import { couponListStatus } from '../lists/coupon-list.entity.js';
import { AvailabilityUpdate, LowStockAlert } from './live-update.types.js';
import { BoundedQueueStream, LatestPerKeyStream } from './subscriber-streams.js';
import { LiveTopic, type CampaignStatusMessage, type ListChangesMessage, type LowStockAlertMessage } from './topics.js';

/** The contract: at most one availability update per list every 250 ms. */
export const AVAILABILITY_INTERVAL_MS = 250;
/** Figures of several lists are read together: at most one read per this many ms. */
const MIN_READ_GAP_MS = 20;
/** After a failed read the lists are retried this much later. */
const READ_RETRY_MS = 1000;
const READ_CHUNK = 500;
const MAX_WATCHED_LISTS = 10_000;
/** Alerts and campaign changes a subscriber may fall behind by before the oldest are dropped. */
const EVENT_BUFFER = 1000;

export interface LiveSubscriptionCounts {
  availability: number;
  lowStockAlerts: number;
  campaignStatus: number;
}

interface FigureRow {
  id: string;
  total_codes: number;
  assigned_codes: number;
  expires_at: Date | null;
}

/**
 * One per API process: listens once to the Redis topics and fans events out to this process's
 * WebSocket subscribers.
 *
 * Availability is coalesced here, per list and per process: a list's figures go out when it
 * changed and its last update went out ≥ 250 ms ago; changes in between only mark the list
 * again, so the next update (the trailing edge) carries the newest figures. The figures are
 * read from the database at sending time, after the change notices arrived, and notices are
 * sent after COMMIT: so the last update after the last change always shows the final figures,
 * whichever processes made the changes and in whatever order their messages arrive. Figures
 * of all due lists are read in one query (by primary key, no locks), at most every
 * MIN_READ_GAP_MS, and only for lists someone on this process watches.
 */
export class LiveUpdateHub {
  private readonly watchersByList = new Map<string, Set<LatestPerKeyStream<AvailabilityUpdate>>>();
  private readonly watchersOfAll = new Set<LatestPerKeyStream<AvailabilityUpdate>>();
  private readonly alertSubscribers = new Set<BoundedQueueStream<LowStockAlert>>();
  private readonly campaignSubscribers = new Set<BoundedQueueStream<Campaign>>();

  /** Lists changed and not yet sent, with the time of their latest change. */
  private readonly changed = new Map<string, Date>();
  /** When each list's last update went out (entries older than the interval are pruned). */
  private readonly lastSentAt = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private reading = false;
  private lastReadAt = 0;
  private readonly topicIterators: AsyncIterator<unknown>[] = [];
  private started = false;
  private stopped = false;

  constructor(private readonly app: AppContext) {}

  /** Subscribes to the Redis topics (once per process). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.consume(LiveTopic.LIST_CHANGES, (message) => this.onListChanges(message as ListChangesMessage));
    this.consume(LiveTopic.LOW_STOCK_ALERTS, (message) => this.onLowStockAlert(message as LowStockAlertMessage));
    this.consume(LiveTopic.CAMPAIGN_STATUS, (message) => this.onCampaignStatus(message as CampaignStatusMessage));
    this.app.pubSub.onResubscribed(() => {
      this.resync().catch((error: unknown) => this.app.logger.warn({ err: error }, 'live figures not resent after reconnect'));
    });
    this.app.onShutdown(() => this.stop());
  }

  /** After the Redis subscription was lost and is back: change notices may be gone, so every watched list's figures go out now. */
  async resync(): Promise<void> {
    if (this.stopped) return;
    let ids = [...this.watchersByList.keys()];
    if (this.watchersOfAll.size > 0) {
      const rows: Array<{ id: string }> = await this.app.dataSource.query('SELECT id FROM coupon_lists ORDER BY id DESC LIMIT ?', [MAX_WATCHED_LISTS]);
      ids = rows.map((row) => String(row.id));
    }
    const now = new Date();
    for (const id of ids) this.changed.set(id, now);
    this.scheduleRead();
  }

  /** Ends every subscription and leaves the Redis topics. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const stream of [...this.watchersOfAll, ...[...this.watchersByList.values()].flatMap((set) => [...set])]) stream.close();
    for (const stream of [...this.alertSubscribers, ...this.campaignSubscribers]) stream.close();
    await Promise.all(this.topicIterators.map((iterator) => iterator.return?.().catch(() => undefined)));
  }

  /** A subscriber's stream of availability updates for `listIds`, or for every list when null. */
  async watchAvailability(listIds: readonly string[] | null | undefined): Promise<AsyncIterableIterator<AvailabilityUpdate>> {
    const ids = listIds == null ? null : await this.checkListIds(listIds);
    const stream: LatestPerKeyStream<AvailabilityUpdate> = new LatestPerKeyStream(() => {
      if (ids === null) this.watchersOfAll.delete(stream);
      else {
        for (const id of ids) {
          const set = this.watchersByList.get(id);
          set?.delete(stream);
          if (set?.size === 0) this.watchersByList.delete(id);
        }
      }
    });
    this.opened.availability++;
    if (this.stopped) stream.close();
    else if (ids === null) this.watchersOfAll.add(stream);
    else {
      for (const id of ids) {
        let set = this.watchersByList.get(id);
        if (!set) this.watchersByList.set(id, (set = new Set()));
        set.add(stream);
      }
    }
    return stream;
  }

  watchLowStockAlerts(): AsyncIterableIterator<LowStockAlert> {
    const stream: BoundedQueueStream<LowStockAlert> = new BoundedQueueStream(() => this.alertSubscribers.delete(stream), EVENT_BUFFER);
    this.opened.lowStockAlerts++;
    if (this.stopped) stream.close();
    else this.alertSubscribers.add(stream);
    return stream;
  }

  watchCampaignStatus(): AsyncIterableIterator<Campaign> {
    const stream: BoundedQueueStream<Campaign> = new BoundedQueueStream(() => this.campaignSubscribers.delete(stream), EVENT_BUFFER);
    this.opened.campaignStatus++;
    if (this.stopped) stream.close();
    else this.campaignSubscribers.add(stream);
    return stream;
  }

  /** How many subscriptions of each kind this process holds now. */
  subscriberCounts(): LiveSubscriptionCounts {
    const streams = new Set(this.watchersOfAll);
    for (const set of this.watchersByList.values()) for (const stream of set) streams.add(stream);
    return { availability: streams.size, lowStockAlerts: this.alertSubscribers.size, campaignStatus: this.campaignSubscribers.size };
  }

  /** How many subscriptions of each kind this process has accepted since it started. */
  readonly opened: LiveSubscriptionCounts = { availability: 0, lowStockAlerts: 0, campaignStatus: 0 };

  private async checkListIds(listIds: readonly string[]): Promise<string[]> {
    if (listIds.length === 0) throw new BadUserInputError('listIds', 'name at least one list, or leave listIds out to watch every list');
    if (listIds.length > MAX_WATCHED_LISTS) throw new BadUserInputError('listIds', `at most ${MAX_WATCHED_LISTS} lists per subscription`);
    listIds.forEach((id, index) => {
      if (!isRowId(id)) throw new BadUserInputError(`listIds[${index}]`, `expected a list id like "42", got ${JSON.stringify(id)}`);
    });
    const ids = [...new Set(listIds)];
    const found = new Set<string>();
    for (let i = 0; i < ids.length; i += READ_CHUNK) {
      const rows: Array<{ id: string }> = await this.app.dataSource.query('SELECT id FROM coupon_lists WHERE id IN (?)', [ids.slice(i, i + READ_CHUNK)]);
      for (const row of rows) found.add(String(row.id));
    }
    const missing = ids.find((id) => !found.has(id));
    if (missing) throw new NotFoundError('Coupon list', missing);
    return ids;
  }

  private consume(topic: string, handle: (message: unknown) => void): void {
    const iterator = this.app.pubSub.subscribe(topic)[Symbol.asyncIterator]();
    this.topicIterators.push(iterator);
    void (async () => {
      for (;;) {
        const result = await iterator.next();
        if (result.done) return;
        try {
          handle(result.value);
        } catch (error) {
          this.app.logger.error({ err: error, topic }, 'live update not handled');
        }
      }
    })().catch((error: unknown) => this.app.logger.error({ err: error, topic }, 'live update topic closed'));
  }

  private isWatched(listId: string): boolean {
    return this.watchersOfAll.size > 0 || this.watchersByList.has(listId);
  }

  private onListChanges(message: ListChangesMessage): void {
    for (const { listId, at } of message.lists) {
      if (!this.isWatched(listId)) continue;
      const changedAt = at instanceof Date ? at : new Date(at);
      const known = this.changed.get(listId);
      if (!known || known < changedAt) this.changed.set(listId, changedAt);
    }
    this.scheduleRead();
  }

  private dueAt(listId: string): number {
    return (this.lastSentAt.get(listId) ?? -Infinity) + AVAILABILITY_INTERVAL_MS;
  }

  private scheduleRead(): void {
    if (this.timer || this.reading || this.stopped || this.changed.size === 0) return;
    let earliest = Infinity;
    for (const listId of this.changed.keys()) earliest = Math.min(earliest, this.dueAt(listId));
    const now = Date.now();
    const at = Math.max(earliest, this.lastReadAt + MIN_READ_GAP_MS, now);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.readAndSend();
    }, at - now);
    this.timer.unref();
  }

  private async readAndSend(): Promise<void> {
    if (this.stopped) return;
    this.reading = true;
    const now = Date.now();
    this.lastReadAt = now;
    const due: Array<[string, Date]> = [];
    for (const [listId, at] of this.changed) {
      if (this.dueAt(listId) <= now) due.push([listId, at]);
    }
    for (const [listId] of due) this.changed.delete(listId);
    try {
      for (let i = 0; i < due.length; i += READ_CHUNK) {
        const chunk = due.slice(i, i + READ_CHUNK);
        const rows: FigureRow[] = await this.app.dataSource.query(
          'SELECT id, total_codes, assigned_codes, expires_at FROM coupon_lists WHERE id IN (?)',
          [chunk.map(([listId]) => listId)],
        );
        const changedAt = new Map(chunk);
        const sentAt = Date.now();
        for (const row of rows) {
          const listId = String(row.id);
          this.lastSentAt.set(listId, sentAt);
          this.send(this.updateOf(row, changedAt.get(listId) ?? new Date(sentAt)));
        }
      }
    } catch (error) {
      this.app.logger.warn({ err: error, lists: due.length }, 'availability figures not read; retrying');
      // Put them back (a newer change wins) and try again a little later.
      for (const [listId, at] of due) {
        const known = this.changed.get(listId);
        if (!known || known < at) this.changed.set(listId, at);
      }
      this.lastReadAt = Date.now() + READ_RETRY_MS - MIN_READ_GAP_MS;
    } finally {
      this.reading = false;
      this.pruneSentTimes();
      this.scheduleRead();
    }
  }

  private updateOf(row: FigureRow, at: Date): AvailabilityUpdate {
    const figures = { totalCodes: Number(row.total_codes), assignedCodes: Number(row.assigned_codes), expiresAt: row.expires_at };
    const update = new AvailabilityUpdate();
    update.listId = String(row.id);
    update.totalCodes = figures.totalCodes;
    update.assignedCodes = figures.assignedCodes;
    update.availableCodes = Math.max(0, figures.totalCodes - figures.assignedCodes);
    update.status = couponListStatus(figures);
    update.at = at;
    return update;
  }

  private send(update: AvailabilityUpdate): void {
    for (const stream of this.watchersOfAll) stream.push(update.listId, update);
    const watchers = this.watchersByList.get(update.listId);
    if (watchers) for (const stream of watchers) stream.push(update.listId, update);
  }

  private pruneSentTimes(): void {
    const cutoff = Date.now() - AVAILABILITY_INTERVAL_MS;
    for (const [listId, sentAt] of this.lastSentAt) {
      if (sentAt < cutoff && !this.changed.has(listId)) this.lastSentAt.delete(listId);
    }
  }

  private onLowStockAlert(message: LowStockAlertMessage): void {
    if (this.alertSubscribers.size === 0) return;
    const alert = new LowStockAlert();
    alert.listId = message.listId;
    alert.listName = message.listName;
    alert.availableCodes = message.availableCodes;
    alert.warningLimit = message.warningLimit;
    alert.at = message.at instanceof Date ? message.at : new Date(message.at);
    for (const stream of this.alertSubscribers) stream.push(alert);
  }

  private onCampaignStatus(message: CampaignStatusMessage): void {
    if (this.campaignSubscribers.size === 0) return;
    const campaign = Object.assign(new Campaign(), message);
    for (const stream of this.campaignSubscribers) stream.push(campaign);
  }
}
