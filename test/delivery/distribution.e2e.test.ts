import { v7 as uuidv7 } from 'uuid';
import { CouponsAssigned } from '../../src/modules/claims/claim.events';
import { enqueueDistribution } from '../../src/modules/distribution/distribution.jobs';
import { DistributionServices } from '../../src/modules/distribution/distribution-services';
import { errorCode } from '../helpers/graphql-client';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { appendCodes, claim, createCampaign, createList, createMessage, gqlData, setDelivery, upsertProfile } from './delivery-fixtures';
import { TestGateway } from './gateway';
import { eventually } from '../helpers/fixtures';

const JOB_FIELDS = 'id campaignId status total processed assigned reused failed notServed stopReason startedAt completedAt';

describe('bulk distribution (distributeCoupons)', () => {
  let gateway: TestGateway;
  /** The API process; distributions run in the separate worker process. */
  let api: TestApp;
  let worker: TestApp;
  let smsMessageId: string;

  beforeAll(async () => {
    gateway = await new TestGateway().start();
    const env = { SMS_WEBHOOK_URL: `${gateway.url}/sms`, DELIVERY_RETRY_BASE_MS: '40', DELIVERY_SWEEP_INTERVAL_SECONDS: '3600' };
    api = await startTestApp({ env: { ...env, ROLE: 'api' } });
    worker = await startTestApp({ env: { ...env, ROLE: 'worker' }, shareWith: { databaseUrl: api.databaseUrl, queuePrefix: api.queuePrefix } });
    smsMessageId = await createMessage(api, 'SMS', 'Code {couponcode}');
  });
  afterAll(async () => {
    await worker.stop();
    await api.destroy();
    await gateway.stop();
  });

  async function automatedCampaign(name: string, codes: number, sms = true): Promise<{ listId: string; campaignId: string }> {
    const listId = await createList(api, { name, kind: 'UNIQUE' });
    await appendCodes(api.app, listId, Array.from({ length: codes }, (_, i) => `${name}-${i + 1}`));
    if (sms) await setDelivery(api, listId, { smsMessageId, smsEnabled: true });
    return { listId, campaignId: await createCampaign(api, [listId], 'AUTOMATED') };
  }

  const distribute = (campaignId: string, userIds: string[], key?: string) =>
    api.gql(`mutation($campaignId: ID!, $userIds: [String!]!) { distributeCoupons(campaignId: $campaignId, userIds: $userIds) { ${JOB_FIELDS} } }`, { campaignId, userIds }, key);

  async function finished(id: string) {
    return eventually(async () => {
      const job = (await gqlData(api, `query($id: ID!) { distributionJob(id: $id) { ${JOB_FIELDS} } }`, { id })).distributionJob;
      return ['COMPLETED', 'STOPPED', 'FAILED'].includes(job.status) ? job : undefined;
    }, 15_000, `distribution ${id} to finish`);
  }

  it('claims and sends a code for every user, counting reused claims and serving a user named twice once', async () => {
    const { listId, campaignId } = await automatedCampaign('Bulk', 20);
    const users = ['u1', 'u2', 'u3', 'u4', 'u5', 'early'];
    for (const userId of users) await upsertProfile(api, { userId, phoneNumber: '+4930123456' });
    const early = await claim(api, campaignId, 'early');
    await eventually(() => gateway.forKey(`${early.id}:SMS`).length === 1, 10_000, 'the early claim to be sent');

    const started = await distribute(campaignId, [...users, 'u1']);
    expect(started.errors).toBeUndefined();
    expect(started.data.distributeCoupons).toMatchObject({ campaignId, status: 'QUEUED', total: 6, processed: 0 });
    const job = await finished(started.data.distributeCoupons.id);
    expect(job).toMatchObject({ status: 'COMPLETED', total: 6, processed: 6, assigned: 5, reused: 1, failed: 0, notServed: 0, stopReason: null });
    expect(job.completedAt).toEqual(expect.any(String));

    const rows: Array<{ user_id: string; id: string }> = await api.app.dataSource.query('SELECT id, user_id FROM coupon_assignments WHERE list_id = ?', [listId]);
    expect(rows.map((row) => row.user_id).sort()).toEqual([...users].sort());
    // Every new assignment reaches the gateway once; the reused one is not sent again.
    await eventually(() => gateway.acceptedPerKey().size === 6, 10_000, 'all sends');
    expect([...gateway.acceptedPerKey().keys()].sort()).toEqual(rows.map((row) => `${row.id}:SMS`).sort());
    expect([...gateway.acceptedPerKey().values()].every((count) => count === 1)).toBe(true);
    const profile = await gqlData(api, `{ userProfile(userId: "u3") { attributes } }`);
    expect(profile.userProfile.attributes.couponcode).toMatch(/^Bulk-\d+$/);
  });

  it('stops cleanly when the list runs out, counting the rest as not served', async () => {
    const { campaignId } = await automatedCampaign('Short', 3, false);
    const users = Array.from({ length: 8 }, (_, i) => `short-${i}`);
    const started = await distribute(campaignId, users);
    const job = await finished(started.data.distributeCoupons.id);
    expect(job).toMatchObject({ status: 'STOPPED', total: 8, processed: 8, assigned: 3, reused: 0, failed: 0, notServed: 5 });
    expect(job.stopReason).toMatch(/no codes left|finished/);
    const campaign = await gqlData(api, `query($id: ID!) { campaign(id: $id) { status finishReason } }`, { id: campaignId });
    expect(campaign.campaign).toEqual({ status: 'FINISHED', finishReason: 'LIST_EXHAUSTED' });
    // The campaign cannot serve any more: a new distribution is refused at once.
    expect(errorCode(await distribute(campaignId, ['late']))).toBe('CAMPAIGN_FINISHED');
  });

  it('resumes a distribution whose worker died, without claiming twice', async () => {
    const { listId, campaignId } = await automatedCampaign('Resume', 10, false);
    const users = ['r0', 'r1', 'r2', 'r3', 'r4', 'r5'];
    // The state a crash leaves: r0, r1 claimed and recorded; r2, r3 claimed but not yet recorded.
    const inserted = await api.app.dataSource.query(
      `INSERT INTO distribution_jobs (campaign_id, status, total, processed, assigned, started_at) VALUES (?, 'RUNNING', ?, 2, 2, UTC_TIMESTAMP(3) - INTERVAL 5 SECOND)`,
      [campaignId, users.length],
    );
    const id = String(inserted.insertId);
    const claimed = new Map<string, string>();
    for (const userId of users.slice(0, 4)) claimed.set(userId, (await claim(api, campaignId, userId)).id);
    await api.app.dataSource.query('INSERT INTO distribution_job_users (job_id, position, user_id, outcome, assignment_id) VALUES ?', [
      users.map((userId, position) => [id, position, userId, position < 2 ? 'ASSIGNED' : null, position < 2 ? claimed.get(userId) : null]),
    ]);

    await enqueueDistribution(worker.app.queues, id);
    const job = await finished(id);
    expect(job).toMatchObject({ status: 'COMPLETED', total: 6, processed: 6, assigned: 6, reused: 0, failed: 0, notServed: 0 });
    const [{ assigned }] = await api.app.dataSource.query('SELECT assigned_codes AS assigned FROM coupon_lists WHERE id = ?', [listId]);
    expect(Number(assigned)).toBe(6);
    const outcomes: Array<{ user_id: string; assignment_id: string }> = await api.app.dataSource.query(
      'SELECT user_id, assignment_id FROM distribution_job_users WHERE job_id = ? ORDER BY position',
      [id],
    );
    for (const userId of ['r2', 'r3']) expect(outcomes.find((row) => row.user_id === userId)!.assignment_id).toBe(claimed.get(userId));
  });

  it('the resume sweep queues a distribution whose job was never queued, once', async () => {
    const { listId, campaignId } = await automatedCampaign('Lost', 5, false);
    const users = ['l0', 'l1', 'l2'];
    // The state a failed enqueue after commit leaves: QUEUED for two minutes, no job.
    const inserted = await api.app.dataSource.query(
      `INSERT INTO distribution_jobs (campaign_id, status, total, created_at, updated_at)
       VALUES (?, 'QUEUED', ?, UTC_TIMESTAMP(3) - INTERVAL 2 MINUTE, UTC_TIMESTAMP(3) - INTERVAL 2 MINUTE)`,
      [campaignId, users.length],
    );
    const id = String(inserted.insertId);
    await api.app.dataSource.query('INSERT INTO distribution_job_users (job_id, position, user_id) VALUES ?', [users.map((userId, position) => [id, position, userId])]);

    const { distributions } = worker.app.get(DistributionServices);
    expect(await distributions.resumeLost()).toBe(1);
    // Its job exists now (or it already runs or ran): a second sweep adds nothing.
    expect(await distributions.resumeLost()).toBe(0);
    const job = await finished(id);
    expect(job).toMatchObject({ status: 'COMPLETED', total: 3, processed: 3, assigned: 3 });
    const [{ assigned }] = await api.app.dataSource.query('SELECT assigned_codes AS assigned FROM coupon_lists WHERE id = ?', [listId]);
    expect(Number(assigned)).toBe(3);
    expect(await distributions.resumeLost()).toBe(0);
  });

  it('counts interactive claims (widgets) for distributions to give way to, across processes', async () => {
    const listId = await createList(api, { name: 'Widget traffic', kind: 'FIXED', fixedCode: 'WIDGET', fixedLimit: 1000 });
    const campaignId = await createCampaign(api, [listId], 'WIDGET');
    // What the claim engine announces after committing a burst of 200 widget claims in the API
    // process (at once, so the rate does not depend on how fast this machine answers claims).
    const at = new Date();
    api.app.eventBus.publish(
      new CouponsAssigned(
        Array.from({ length: 200 }, (_, i) => ({ id: uuidv7(), listId, campaignId, userId: `widget-user-${i}`, externalId: null, code: 'WIDGET', assignedAt: at, expiresAt: null })),
      ),
    );
    // Seen by the worker process (per second, over the last two seconds).
    await eventually(async () => (await worker.app.get(DistributionServices).interactiveLoad.perSecond()) >= 50, 5000, 'the interactive claim rate');
  });

  it('refuses bad input: not AUTOMATED, no users, too many users, blank ids, unknown campaign, wrong role', async () => {
    const listId = await createList(api, { name: 'Widget list', kind: 'FIXED', fixedCode: 'W', fixedLimit: 5 });
    const widget = await createCampaign(api, [listId], 'WIDGET');
    const automated = await createCampaign(api, [listId], 'AUTOMATED');
    const cases: Array<[string, string[], string]> = [
      [widget, ['a'], 'campaignId'],
      [automated, [], 'userIds'],
      [automated, Array.from({ length: 10_001 }, (_, i) => `user-${i}`), 'userIds'],
      [automated, ['ok', '  '], 'userIds[1]'],
      [automated, ['x'.repeat(192)], 'userIds[0]'],
      ['not-an-id', ['a'], 'campaignId'],
    ];
    for (const [campaignId, userIds, field] of cases) {
      const response = await distribute(campaignId, userIds);
      expect([field, errorCode(response), response.errors?.[0].extensions?.field]).toEqual([field, 'BAD_USER_INPUT', field]);
    }
    expect(errorCode(await distribute('987654', ['a']))).toBe('NOT_FOUND');
    const client = await api.createKey('CLIENT');
    expect(errorCode(await distribute(automated, ['a'], client))).toBe('FORBIDDEN');
    expect((await gqlData(api, `{ distributionJob(id: "987654") { id } }`)).distributionJob).toBeNull();

    // 10,000 is allowed.
    const most = await distribute(automated, Array.from({ length: 10_000 }, (_, i) => `max-${i}`));
    expect(most.data.distributeCoupons.total).toBe(10_000);
  });
});
