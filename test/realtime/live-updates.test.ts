import type { Client } from 'graphql-ws';
import { wsClient } from '../helpers/graphql-client';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { LiveUpdateHub } from '../../src/modules/realtime/live-update-hub';
import type { AvailabilityUpdate } from '../../src/modules/realtime/live-update.types';
import { AVAILABILITY, CAMPAIGN_STATUS, CLAIM, CREATE_CAMPAIGN, CREATE_LIST, UPDATE_LIST, collect, publishStock, setAssigned, subscribing } from './live-helpers';
import { eventually, sleep } from '../helpers/fixtures';

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe('live updates over graphql-ws, across two API processes', () => {
  let writer: TestApp; // API + workers: where the changes are made
  let reader: TestApp; // a second API process of the same deployment: where dashboards listen
  let viewerKey: string;
  const clients: Client[] = [];

  const dashboard = () => {
    const client = wsClient(reader.baseUrl, viewerKey);
    clients.push(client);
    return client;
  };
  const createFixed = async (name: string, fixedLimit: number) =>
    (await writer.gql(CREATE_LIST, { input: { name, kind: 'FIXED', fixedCode: `CODE-${name}`, fixedLimit } })).data.createCouponList.id as string;

  beforeAll(async () => {
    writer = await startTestApp();
    reader = await startTestApp({ env: { ROLE: 'api' }, shareWith: { databaseUrl: writer.databaseUrl, queuePrefix: writer.queuePrefix } });
    viewerKey = await writer.createKey('VIEWER');
  });
  afterAll(async () => {
    for (const client of clients) await client.dispose();
    await reader.stop();
    await writer.destroy();
  });

  it('delivers a change made through one process to a subscriber on the other, with DateTime `at`', async () => {
    const listId = await createFixed('cross', 100);
    const updates = await subscribing(reader.app, 'availability', () => collect<{ couponListAvailability: AvailabilityUpdate & { at: string } }>(dashboard(), AVAILABILITY, { ids: [listId] }));

    const before = Date.now();
    const changed = await writer.gql(UPDATE_LIST, { id: listId, input: { fixedLimit: 150 } });
    expect(changed.errors).toBeUndefined();
    const update = (await updates.waitFor((data) => data.couponListAvailability.totalCodes === 150)).couponListAvailability;
    expect(update).toMatchObject({ listId, totalCodes: 150, assignedCodes: 0, availableCodes: 150, status: 'ACTIVE' });
    expect(update.at).toMatch(ISO_UTC);
    expect(Math.abs(new Date(update.at).getTime() - before)).toBeLessThan(5000);
    updates.stop();
  });

  it('coalesces: at most one update per list every 250 ms, and the last carries the final figures', async () => {
    const listId = await createFixed('busy', 1000);
    const updates = await subscribing(reader.app, 'availability', () => collect<{ couponListAvailability: AvailabilityUpdate }>(dashboard(), AVAILABILITY, { ids: [listId] }));

    // 60 changes over ~1.2 s, half made by each process (a claim on either API process).
    const started = Date.now();
    for (let assigned = 1; assigned <= 60; assigned++) {
      await setAssigned(assigned % 2 ? writer.app : reader.app, listId, assigned);
      await sleep(20);
    }
    const duration = Date.now() - started;
    const last = await updates.waitFor((data) => data.couponListAvailability.assignedCodes === 60);
    expect(last.couponListAvailability).toMatchObject({ availableCodes: 940, status: 'ACTIVE' });
    await sleep(600); // nothing may follow the final figures
    const received = updates.items.map((item) => item.data.couponListAvailability);
    expect(received[received.length - 1].assignedCodes).toBe(60);
    // Far fewer than the 60 changes; the 250 ms spacing bounds the count.
    expect(received.length).toBeGreaterThanOrEqual(2);
    expect(received.length).toBeLessThanOrEqual(Math.ceil(duration / 250) + 2);
    const gaps = updates.items.slice(1).map((item, index) => item.receivedAt - updates.items[index].receivedAt);
    // Measured at the client, so a little network jitter is allowed on the server's 250 ms.
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(200);
    // Figures only move forward.
    for (let i = 1; i < received.length; i++) expect(received[i].assignedCodes).toBeGreaterThanOrEqual(received[i - 1].assignedCodes);
    updates.stop();
  });

  it('sends only the lists asked for, and every list when listIds is left out', async () => {
    const watched = await createFixed('watched', 10);
    const other = await createFixed('other', 10);
    const one = await subscribing(reader.app, 'availability', () => collect<{ couponListAvailability: AvailabilityUpdate }>(dashboard(), AVAILABILITY, { ids: [watched] }));
    const all = await subscribing(reader.app, 'availability', () => collect<{ couponListAvailability: AvailabilityUpdate }>(dashboard(), AVAILABILITY));

    await setAssigned(writer.app, other, 3);
    await setAssigned(writer.app, watched, 4);
    await all.waitFor((data) => data.couponListAvailability.listId === other && data.couponListAvailability.assignedCodes === 3);
    await all.waitFor((data) => data.couponListAvailability.listId === watched && data.couponListAvailability.assignedCodes === 4);
    await one.waitFor((data) => data.couponListAvailability.assignedCodes === 4);
    // Updates arrive in order: once a later change of the watched list is in, an update of the
    // other list sent to this subscription would have arrived before it.
    await setAssigned(writer.app, other, 6);
    await all.waitFor((data) => data.couponListAvailability.listId === other && data.couponListAvailability.assignedCodes === 6);
    await setAssigned(writer.app, watched, 5);
    await one.waitFor((data) => data.couponListAvailability.assignedCodes === 5);
    expect(one.items.every((item) => item.data.couponListAvailability.listId === watched)).toBe(true);
    one.stop();
    all.stop();
  });

  it('shows a list that runs out as EXHAUSTED', async () => {
    const listId = await createFixed('runs-out', 5);
    const updates = await subscribing(reader.app, 'availability', () => collect<{ couponListAvailability: AvailabilityUpdate }>(dashboard(), AVAILABILITY, { ids: [listId] }));
    await setAssigned(writer.app, listId, 5);
    const update = await updates.waitFor((data) => data.couponListAvailability.assignedCodes === 5);
    expect(update.couponListAvailability).toMatchObject({ availableCodes: 0, status: 'EXHAUSTED' });
    updates.stop();
  });

  it('refuses bad listIds with BAD_USER_INPUT and unknown lists with NOT_FOUND', async () => {
    const bad = collect(dashboard(), AVAILABILITY, { ids: ['abc'] });
    await eventually(() => bad.errors.length > 0, 5000, 'an error');
    expect((bad.errors[0] as { extensions?: { code?: string; field?: string } }).extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'listIds[0]' });

    const unknown = collect(dashboard(), AVAILABILITY, { ids: ['987654321'] });
    await eventually(() => unknown.errors.length > 0, 5000, 'an error');
    expect((unknown.errors[0] as { extensions?: { code?: string } }).extensions?.code).toBe('NOT_FOUND');
  });

  it('authenticates the socket: VIEWER and ADMIN may subscribe, CLIENT is closed with 4403, no or a bad key with 4401', async () => {
    const closeCode = (key: string | null) =>
      new Promise<number>((resolve) => {
        const client = wsClient(reader.baseUrl, key, { onClose: (event) => resolve(event.code) });
        clients.push(client);
        client.subscribe({ query: 'subscription { lowStockAlerts { listId } }' }, { next: () => undefined, error: () => undefined, complete: () => undefined });
      });
    expect(await closeCode(null)).toBe(4401);
    expect(await closeCode('not-a-key')).toBe(4401);
    expect(await closeCode(await writer.createKey('CLIENT'))).toBe(4403);

    const admin = wsClient(reader.baseUrl, await writer.createKey('ADMIN'));
    clients.push(admin);
    const listId = await createFixed('admin-watch', 10);
    const updates = await subscribing(reader.app, 'availability', () => collect<{ couponListAvailability: AvailabilityUpdate }>(admin, AVAILABILITY, { ids: [listId] }));
    await setAssigned(writer.app, listId, 1);
    await updates.waitFor((data) => data.couponListAvailability.assignedCodes === 1);
    expect(updates.errors).toEqual([]);
    updates.stop();
  });

  it('delivers campaignStatusChanged with the Campaign (created, then finished) from the other process', async () => {
    const listId = await createFixed('campaign-list', 10);
    const changes = await subscribing(reader.app, 'campaignStatus', () => collect<{ campaignStatusChanged: any }>(dashboard(), CAMPAIGN_STATUS));

    const campaignId = (await writer.gql(CREATE_CAMPAIGN, { input: { name: 'Live wheel', kind: 'SPIN_TO_WIN', listIds: [listId] } })).data.createCampaign.id;
    const created = await changes.waitFor((data) => data.campaignStatusChanged.id === campaignId);
    expect(created.campaignStatusChanged).toMatchObject({ name: 'Live wheel', kind: 'SPIN_TO_WIN', status: 'ACTIVE', finishReason: null, finishedAt: null, lists: [{ id: listId }] });

    await writer.gql(`mutation($id: ID!) { finishCampaign(id: $id) { id } }`, { id: campaignId });
    const finished = await changes.waitFor((data) => data.campaignStatusChanged.id === campaignId && data.campaignStatusChanged.status === 'FINISHED');
    expect(finished.campaignStatusChanged).toMatchObject({ finishReason: 'MANUAL', finishedAt: expect.stringMatching(ISO_UTC) });
    changes.stop();
  });

  it('keeps a subscriber that does not read from holding up others; it later gets only the latest figures per list', async () => {
    const a = await createFixed('slow-a', 100);
    const b = await createFixed('slow-b', 100);
    const hub = reader.app.get(LiveUpdateHub);
    const slow = await hub.watchAvailability([a, b]); // never read until the end
    const fast = await hub.watchAvailability([a, b]);
    const fastSeen: AvailabilityUpdate[] = [];
    const reading = (async () => {
      for await (const update of fast) {
        fastSeen.push(update);
        if (update.listId === a && update.assignedCodes === 30) break;
      }
    })();
    for (let assigned = 1; assigned <= 30; assigned++) {
      await setAssigned(writer.app, a, assigned);
      if (assigned % 10 === 0) await setAssigned(writer.app, b, assigned);
      await sleep(15);
    }
    await reading;
    expect(fastSeen.length).toBeGreaterThan(1);
    await sleep(400); // the trailing update of b lands; then read what the slow one holds: one per list
    const held: AvailabilityUpdate[] = [];
    const first = await slow.next();
    held.push(first.value);
    const second = await slow.next();
    held.push(second.value);
    await slow.return!();
    expect(held.map((u) => `${u.listId}:${u.assignedCodes}`).sort()).toEqual([`${a}:30`, `${b}:30`].sort());
    await fast.return!();
  });

  it('claims for real: the subscriber on the other process ends with the final figures', async () => {
    const listId = await createFixed('claimed', 200);
    const campaignId = (await writer.gql(CREATE_CAMPAIGN, { input: { name: 'Claimed', kind: 'WIDGET', listIds: [listId] } })).data.createCampaign.id;
    const updates = await subscribing(reader.app, 'availability', () => collect<{ couponListAvailability: AvailabilityUpdate }>(dashboard(), AVAILABILITY, { ids: [listId] }));

    // Claims through both processes at once.
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 2 ? writer : reader).gql(CLAIM, { input: { campaignId, userId: `live-user-${i}` } })),
    );
    expect(results.filter((r) => r.errors)).toEqual([]);
    const last = await updates.waitFor((data) => data.couponListAvailability.assignedCodes === 40);
    expect(last.couponListAvailability).toMatchObject({ totalCodes: 200, availableCodes: 160, status: 'ACTIVE' });
    await sleep(400);
    const received = updates.items.map((item) => item.data.couponListAvailability.assignedCodes);
    expect(received[received.length - 1]).toBe(40);
    updates.stop();
  });

  it('publishes after the change: an event for an unchanged list repeats the committed figures only', async () => {
    const listId = await createFixed('repeat', 10);
    const updates = await subscribing(reader.app, 'availability', () => collect<{ couponListAvailability: AvailabilityUpdate }>(dashboard(), AVAILABILITY, { ids: [listId] }));
    await publishStock(writer.app, listId);
    const update = await updates.waitFor(() => true);
    expect(update.couponListAvailability).toMatchObject({ listId, totalCodes: 10, assignedCodes: 0, availableCodes: 10 });
    updates.stop();
  });
});
