import type { Client } from 'graphql-ws';
import type { AppContext } from '../../src/app-context';
import { eventually } from '../helpers/fixtures';
import { snapshotOf } from '../../src/modules/lists/list-rows';
import { CouponList } from '../../src/modules/lists/coupon-list.entity';
import { CouponListStockChanged } from '../../src/modules/lists/coupon-list.events';
import { LiveUpdateHub, type LiveSubscriptionCounts } from '../../src/modules/realtime/live-update-hub';

export interface Received<T> {
  data: T;
  receivedAt: number;
}

/** A subscription that keeps everything it receives. */
export interface Collector<T> {
  items: Array<Received<T>>;
  errors: unknown[];
  completed: boolean;
  /** Waits for an item matching `match` (checking those already received too). */
  waitFor(match: (data: T) => boolean, timeoutMs?: number): Promise<T>;
  stop(): void;
}

export function collect<T = any>(client: Client, query: string, variables: Record<string, unknown> = {}): Collector<T> {
  const collector: Collector<T> = {
    items: [],
    errors: [],
    completed: false,
    async waitFor(match, timeoutMs = 10_000) {
      const found = await eventually(() => collector.items.find((item) => match(item.data)) ?? (collector.errors.length > 0 ? 'error' : null), timeoutMs, 'a subscription event');
      if (found === 'error') throw new Error(`subscription failed: ${JSON.stringify(collector.errors)}`);
      return (found as Received<T>).data;
    },
    stop: () => undefined,
  };
  collector.stop = client.subscribe<T>(
    { query, variables },
    {
      next: (result) => {
        if (result.errors) collector.errors.push(...result.errors);
        else collector.items.push({ data: result.data as T, receivedAt: Date.now() });
      },
      error: (error) => collector.errors.push(error),
      complete: () => {
        collector.completed = true;
      },
    },
  );
  return collector;
}

/** Starts subscriptions and waits until the API process has accepted them (so no change is missed). */
export async function subscribing<T>(app: AppContext, kind: keyof LiveSubscriptionCounts, start: () => T, count = 1): Promise<T> {
  const hub = app.get(LiveUpdateHub);
  const before = hub.opened[kind];
  const started = start();
  await eventually(() => hub.opened[kind] >= before + count, 10_000, `${count} ${kind} subscription(s)`);
  return started;
}

/**
 * Changes a list's figures the way a claim does (committed row, then the event on the process
 * that made the change).
 */
export async function setAssigned(app: AppContext, listId: string, assignedCodes: number): Promise<void> {
  await app.dataSource.query('UPDATE coupon_lists SET assigned_codes = ? WHERE id = ?', [assignedCodes, listId]);
  await publishStock(app, listId);
}

export async function publishStock(app: AppContext, listId: string): Promise<void> {
  const list = await app.dataSource.getRepository(CouponList).findOneByOrFail({ id: listId });
  app.eventBus.publish(new CouponListStockChanged(snapshotOf(list)));
}

export const AVAILABILITY = `subscription($ids: [ID!]) { couponListAvailability(listIds: $ids) { listId totalCodes assignedCodes availableCodes status at } }`;
export const LOW_STOCK = `subscription { lowStockAlerts { listId listName availableCodes warningLimit at } }`;
export const CAMPAIGN_STATUS = `subscription { campaignStatusChanged { id name kind status finishReason finishedAt lists { id } } }`;
export const CREATE_LIST = `mutation($input: CreateCouponListInput!) { createCouponList(input: $input) { id totalCodes availableCodes status } }`;
export const UPDATE_LIST = `mutation($id: ID!, $input: UpdateCouponListInput!) { updateCouponList(id: $id, input: $input) { id totalCodes availableCodes status expiresAt } }`;
export const CREATE_CAMPAIGN = `mutation($input: CreateCampaignInput!) { createCampaign(input: $input) { id status } }`;
export const CLAIM = `mutation($input: ClaimCouponInput!) { claimCoupon(input: $input) { id code listId } }`;
