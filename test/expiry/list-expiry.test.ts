import { Queue } from 'bullmq';
import type { Client } from 'graphql-ws';
import { createLogger } from '../../src/infra/logging/logger';
import { createRedis } from '../../src/infra/redis/redis';
import { errorCode, wsClient } from '../helpers/graphql-client';
import { dropDatabase, startTestApp, type TestApp } from '../helpers/test-app';
import { EXPIRY_QUEUE, expiryJobId } from '../../src/modules/expiry/list-expiry.service';
import { AVAILABILITY, CAMPAIGN_STATUS, CLAIM, CREATE_CAMPAIGN, CREATE_LIST, UPDATE_LIST, collect, subscribing } from '../realtime/live-helpers';
import { eventually, sleep } from '../helpers/fixtures';

const CAMPAIGN = `query($id: ID!) { campaign(id: $id) { status finishReason finishedAt } }`;
const LIST = `query($id: ID!) { couponList(id: $id) { status expiresAt availableCodes } }`;
const inMs = (ms: number) => new Date(Date.now() + ms).toISOString();

describe('timed expiry', () => {
  let writer: TestApp; // API + workers
  let reader: TestApp; // a second API process
  let client: Client;

  const createList = async (name: string, expiresAt: string | null) => {
    const response = await writer.gql(CREATE_LIST, { input: { name, kind: 'FIXED', fixedCode: name.toUpperCase().replace(/\W/g, ''), fixedLimit: 10, expiresAt } });
    if (response.errors) throw new Error(JSON.stringify(response.errors));
    return response.data.createCouponList.id as string;
  };
  const createCampaign = async (name: string, listIds: string[]) => {
    const response = await writer.gql(CREATE_CAMPAIGN, { input: { name, kind: 'SPIN_TO_WIN', listIds } });
    if (response.errors) throw new Error(JSON.stringify(response.errors));
    return response.data.createCampaign.id as string;
  };
  const campaign = async (id: string) => (await writer.gql(CAMPAIGN, { id })).data.campaign;
  const list = async (id: string) => (await writer.gql(LIST, { id })).data.couponList;

  beforeAll(async () => {
    writer = await startTestApp({ env: { EXPIRY_SWEEP_SECONDS: '3600' } });
    reader = await startTestApp({ env: { ROLE: 'api' }, shareWith: { databaseUrl: writer.databaseUrl, queuePrefix: writer.queuePrefix } });
    client = wsClient(reader.baseUrl, await writer.createKey('VIEWER'));
  });
  afterAll(async () => {
    await client.dispose();
    await reader.stop();
    await writer.destroy();
  });

  it('expires a list on time: campaigns that can no longer hand out a code finish with LIST_EXPIRED, others go on; subscribers hear it', async () => {
    const expiresAt = inMs(1500);
    const expiring = await createList('Expiring', expiresAt);
    const lasting = await createList('Lasting', null);
    const onlyExpiring = await createCampaign('Only expiring', [expiring]);
    const mixed = await createCampaign('Mixed', [expiring, lasting]);
    const statuses = await subscribing(reader.app, 'campaignStatus', () => collect<{ campaignStatusChanged: any }>(client, CAMPAIGN_STATUS));
    const availability = await subscribing(reader.app, 'availability', () => collect<{ couponListAvailability: any }>(client, AVAILABILITY, { ids: [expiring] }));
    expect(await campaign(onlyExpiring)).toMatchObject({ status: 'ACTIVE' });

    const finished = await statuses.waitFor((data) => data.campaignStatusChanged.id === onlyExpiring && data.campaignStatusChanged.status === 'FINISHED');
    expect(finished.campaignStatusChanged).toMatchObject({ finishReason: 'LIST_EXPIRED', name: 'Only expiring' });
    expect(new Date(finished.campaignStatusChanged.finishedAt).getTime()).toBeGreaterThanOrEqual(new Date(expiresAt).getTime());
    const update = await availability.waitFor((data) => data.couponListAvailability.status === 'EXPIRED');
    expect(update.couponListAvailability).toMatchObject({ listId: expiring, availableCodes: 10 });

    expect(await list(expiring)).toMatchObject({ status: 'EXPIRED' });
    expect(await campaign(onlyExpiring)).toMatchObject({ status: 'FINISHED', finishReason: 'LIST_EXPIRED' });
    expect(await campaign(mixed)).toMatchObject({ status: 'ACTIVE', finishReason: null });
    // Its codes are no longer handed out; the other list still serves.
    expect(errorCode(await writer.gql(CLAIM, { input: { campaignId: onlyExpiring, userId: 'late-user' } }))).toBe('CAMPAIGN_FINISHED');
    expect(errorCode(await writer.gql(CLAIM, { input: { campaignId: mixed, userId: 'late-user', listId: expiring } }))).toBe('LIST_EXPIRED');
    const served = await writer.gql(CLAIM, { input: { campaignId: mixed, userId: 'late-user' } });
    expect(served.data.claimCoupon.listId).toBe(lasting);
    expect(statuses.items.filter((item) => item.data.campaignStatusChanged.id === mixed && item.data.campaignStatusChanged.status === 'FINISHED')).toEqual([]);
    statuses.stop();
    availability.stop();
  });

  it('follows expiresAt when it moves earlier, later, or is removed', async () => {
    const earlier = await createList('Moved earlier', inMs(60_000));
    const later = await createList('Moved later', inMs(1000));
    const removed = await createList('Expiry removed', inMs(1000));
    const [earlierCampaign, laterCampaign, removedCampaign] = await Promise.all([
      createCampaign('Earlier', [earlier]),
      createCampaign('Later', [later]),
      createCampaign('Removed', [removed]),
    ]);
    const laterAt = inMs(60_000);
    await writer.gql(UPDATE_LIST, { id: earlier, input: { expiresAt: inMs(800) } });
    await reader.gql(UPDATE_LIST, { id: later, input: { expiresAt: laterAt } }); // edited through the other process
    await writer.gql(UPDATE_LIST, { id: removed, input: { expiresAt: null } });

    await eventually(async () => (await campaign(earlierCampaign)).status === 'FINISHED', 10_000, 'the earlier expiry');
    expect(await campaign(earlierCampaign)).toMatchObject({ finishReason: 'LIST_EXPIRED' });
    await sleep(1500 - 800); // past the original times of the other two
    expect(await campaign(laterCampaign)).toMatchObject({ status: 'ACTIVE' });
    expect(await campaign(removedCampaign)).toMatchObject({ status: 'ACTIVE' });
    expect(await list(later)).toMatchObject({ status: 'ACTIVE' });
    expect(await list(removed)).toMatchObject({ status: 'ACTIVE', expiresAt: null });
    // One job, for the current time only.
    const queue = writer.app.queues.queue(EXPIRY_QUEUE);
    expect(await queue.getJob(expiryJobId(later, new Date(laterAt)))).toBeDefined();
    const pending = await queue.getJobs(['delayed', 'waiting']);
    expect(pending.filter((job) => job.data.listId === later || job.data.listId === removed).map((job) => job.id)).toEqual([expiryJobId(later, new Date(laterAt))]);
  });

  it('a later expiresAt makes an expired list ACTIVE again; its finished campaigns stay finished; the new time expires it again', async () => {
    const listId = await createList('Extended', inMs(700));
    const first = await createCampaign('First run', [listId]);
    await eventually(async () => (await campaign(first)).status === 'FINISHED', 10_000, 'the first expiry');

    const extended = await writer.gql(UPDATE_LIST, { id: listId, input: { expiresAt: inMs(1500) } });
    expect(extended.data.updateCouponList.status).toBe('ACTIVE');
    const second = await createCampaign('Second run', [listId]);
    await sleep(300);
    expect(await campaign(first)).toMatchObject({ status: 'FINISHED', finishReason: 'LIST_EXPIRED' });
    expect(await campaign(second)).toMatchObject({ status: 'ACTIVE' });
    const claimed = await writer.gql(CLAIM, { input: { campaignId: second, userId: 'extended-user' } });
    expect(claimed.errors).toBeUndefined();

    await eventually(async () => (await campaign(second)).status === 'FINISHED', 10_000, 'the second expiry');
    expect(await campaign(second)).toMatchObject({ finishReason: 'LIST_EXPIRED' });
    expect(await list(listId)).toMatchObject({ status: 'EXPIRED' });
  });

  it('the periodic sweep carries out an expiry that no job was scheduled for', async () => {
    const listId = await createList('Swept', null);
    const campaignId = await createCampaign('Swept', [listId]);
    const worker = await startTestApp({ env: { ROLE: 'worker', EXPIRY_SWEEP_SECONDS: '1' }, shareWith: { databaseUrl: writer.databaseUrl, queuePrefix: writer.queuePrefix } });
    try {
      // Expired behind the service's back: no event, no job.
      await writer.app.dataSource.query('UPDATE coupon_lists SET expires_at = UTC_TIMESTAMP(3) - INTERVAL 1 SECOND WHERE id = ?', [listId]);
      await eventually(async () => (await campaign(campaignId)).status === 'FINISHED', 10_000, 'the sweep');
      expect(await campaign(campaignId)).toMatchObject({ finishReason: 'LIST_EXPIRED' });
    } finally {
      await worker.stop();
    }
  });
});

describe('timed expiry across a restart', () => {
  it('a service that was down when the list expired expires it at start-up and finishes its campaigns', async () => {
    const first = await startTestApp();
    const { databaseUrl, queuePrefix } = first;
    let second: TestApp | null = null;
    try {
      const expiresAt = inMs(1500);
      const listId = (await first.gql(CREATE_LIST, { input: { name: 'Down at expiry', kind: 'FIXED', fixedCode: 'DOWN', fixedLimit: 5, expiresAt } })).data.createCouponList.id;
      const campaignId = (await first.gql(CREATE_CAMPAIGN, { input: { name: 'Down at expiry', kind: 'WIDGET', listIds: [listId] } })).data.createCampaign.id;
      await first.stop();

      // The delayed job is lost too (as with a Redis that lost its data): only the start-up check is left.
      const redis = createRedis(process.env.REDIS_URL!, createLogger('silent'), 'test', { maxRetriesPerRequest: null });
      const queue = new Queue(EXPIRY_QUEUE, { connection: redis, prefix: `${queuePrefix}:bull` });
      await queue.obliterate({ force: true });
      await queue.close();
      redis.disconnect();

      await sleep(Math.max(0, new Date(expiresAt).getTime() - Date.now()) + 200);
      second = await startTestApp({ shareWith: { databaseUrl, queuePrefix } });
      // Done by the time the new process has started.
      const read = await second.gql(`query($c: ID!, $l: ID!) { campaign(id: $c) { status finishReason finishedAt } couponList(id: $l) { status } }`, { c: campaignId, l: listId });
      expect(read.data.campaign).toMatchObject({ status: 'FINISHED', finishReason: 'LIST_EXPIRED' });
      expect(new Date(read.data.campaign.finishedAt).getTime()).toBeGreaterThanOrEqual(new Date(expiresAt).getTime());
      expect(read.data.couponList.status).toBe('EXPIRED');
    } finally {
      await second?.stop();
      await first.stop();
      await dropDatabase(databaseUrl);
    }
  });
});
