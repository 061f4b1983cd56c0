import { createServer, type AddressInfo } from 'node:net';
import type { AppContext } from '../../src/app-context';
import type { DomainEvent } from '../../src/infra/events/event-bus';
import type { GraphQLResponse } from './graphql-client';
import type { TestApp } from './test-app';

/**
 * The tests' shared fixtures: lists, codes, campaigns and claims made the way the service makes
 * them, and waiting for a condition (never for a fixed time where a condition can be named).
 */

export const ASSIGNMENT_FIELDS = 'id code listId campaignId userId externalId assignedAt expiresAt reused';
export const CLAIM = `mutation($input: ClaimCouponInput!) { claimCoupon(input: $input) { ${ASSIGNMENT_FIELDS} } }`;

export interface ClaimInput {
  campaignId: string;
  userId: string;
  externalId?: string | null;
  listId?: string | null;
}

export async function createList(t: TestApp, input: Record<string, unknown>): Promise<string> {
  const response = await t.gql(`mutation($input: CreateCouponListInput!) { createCouponList(input: $input) { id } }`, { input });
  if (!response.data) throw new Error(JSON.stringify(response.errors));
  return response.data.createCouponList.id;
}

/**
 * Makes codes live on a UNIQUE list by the upload protocol: rows are written above visible_seq
 * (invisible to claims), then one short transaction holding the list row lock raises visible_seq
 * and total_codes.
 */
export async function appendCodes(app: AppContext, listId: string, codes: string[]): Promise<void> {
  const [{ visible_seq: visible }] = await app.dataSource.query('SELECT visible_seq FROM coupon_lists WHERE id = ?', [listId]);
  const first = Number(visible) + 1;
  for (let start = 0; start < codes.length; start += 5000) {
    const rows = codes.slice(start, start + 5000).map((code, index) => [listId, first + start + index, code]);
    await app.dataSource.query('INSERT INTO coupon_codes (list_id, seq, code) VALUES ?', [rows]);
  }
  await app.transaction(async (tx) => {
    await tx.query('SELECT id FROM coupon_lists WHERE id = ? FOR UPDATE', [listId]);
    await tx.query('UPDATE coupon_lists SET visible_seq = ?, total_codes = total_codes + ? WHERE id = ?', [first + codes.length - 1, codes.length, listId]);
  });
}

export async function createUniqueList(t: TestApp, name = 'Uploads', codes: string[] = [], extra: Record<string, unknown> = {}): Promise<string> {
  const id = await createList(t, { name, kind: 'UNIQUE', ...extra });
  if (codes.length > 0) await appendCodes(t.app, id, codes);
  return id;
}

export async function createCampaign(t: TestApp, listIds: string[], kind = 'WIDGET'): Promise<string> {
  const response = await t.gql(`mutation($input: CreateCampaignInput!) { createCampaign(input: $input) { id } }`, {
    input: { name: `Campaign over ${listIds.join(',')}`, kind, listIds },
  });
  if (!response.data) throw new Error(JSON.stringify(response.errors));
  return response.data.createCampaign.id;
}

export function claim(t: TestApp, input: ClaimInput, key?: string | null): Promise<GraphQLResponse> {
  return t.gql(CLAIM, { input }, key);
}

export const codesNamed = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(5, '0')}`);

export async function campaignState(t: TestApp, campaignId: string): Promise<{ status: string; finishReason: string | null }> {
  const response = await t.gql(`query($id: ID!) { campaign(id: $id) { status finishReason } }`, { id: campaignId });
  return response.data.campaign;
}

export async function listFigures(t: TestApp, listId: string): Promise<{ totalCodes: number; assignedCodes: number; availableCodes: number; status: string }> {
  const response = await t.gql(`query($id: ID!) { couponList(id: $id) { totalCodes assignedCodes availableCodes status } }`, { id: listId });
  return response.data.couponList;
}

/** Collects every event of the given classes published on the app's in-process bus. */
export function recordEvents(app: AppContext, types: Array<abstract new (...args: never[]) => DomainEvent>) {
  const events: DomainEvent[] = [];
  const offs = types.map((type) => app.eventBus.on(type, (event) => void events.push(event)));
  return {
    events,
    of<E extends DomainEvent>(type: abstract new (...args: never[]) => E): E[] {
      return events.filter((event): event is E => event instanceof type);
    },
    stop: () => offs.forEach((off) => off()),
  };
}

/** A port on which nothing listens: bind an ephemeral one, then close it. */
export async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Polls until `check` returns a truthy value and returns it; a check that throws is tried again.
 * Fails after `timeoutMs`, naming `what` (and the last error).
 */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 10_000, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(25);
  }
}

/** Reads until `done` holds for what was read (a failed read counts as not yet), and returns that value. */
export async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const found = await eventually(async () => {
    const value = await read();
    return done(value) ? { value } : null;
  }, timeoutMs, what);
  return found.value;
}

/**
 * Waits until nothing more can follow in these processes: no after-commit handler runs (the
 * event bus is idle) and the named queues have no job waiting, delayed or running.
 */
export async function settled(apps: AppContext[], queues: string[] = [], timeoutMs = 20_000): Promise<void> {
  await eventually(
    async () => {
      for (const app of apps) await app.eventBus.idle();
      for (const name of queues) {
        const counts = await apps[0].queues.queue(name).getJobCounts('waiting', 'delayed', 'active', 'prioritized', 'waiting-children');
        if (Object.values(counts).some((count) => count > 0)) return false;
      }
      for (const app of apps) await app.eventBus.idle();
      return true;
    },
    timeoutMs,
    `idle event buses and drained queues (${queues.join(', ') || 'none'})`,
  );
}
