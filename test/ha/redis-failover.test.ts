import { Redis } from 'ioredis';
import { SENTINEL_MASTER, SENTINEL_PORTS, type LocalCluster } from '../../src/infra/local-services/cluster';
import { wsClient } from '../helpers/graphql-client';
import { startTestApp, TEST_ADMIN_KEY, type TestApp } from '../helpers/test-app';
import { AVAILABILITY, collect, subscribing } from '../realtime/live-helpers';
import { readUpload, upload } from '../uploads/upload-helpers';
import { CLUSTER_URLS, describeOnCluster, localCluster } from './cluster-helpers';
import { claim, codesNamed, createCampaign, createList, createUniqueList, until } from '../helpers/fixtures';



describeOnCluster('the Redis primary failed over under claims, an import and pending expiry jobs', () => {
  let cluster: LocalCluster;
  let t: TestApp;
  let sentinel: Redis;

  beforeAll(async () => {
    cluster = await localCluster();
    sentinel = new Redis({ host: '127.0.0.1', port: SENTINEL_PORTS[1] });
    // The expiry sweep is slow on purpose: an expiry on time proves the delayed job itself survived.
    t = await startTestApp({ env: { ROLE: 'all', REDIS_URL: CLUSTER_URLS.REDIS_URL, CLAIM_RATE_LIMIT: '100000', EXPIRY_SWEEP_SECONDS: '600' } });
  }, 180_000);
  afterAll(async () => {
    await t?.destroy();
    sentinel?.disconnect();
  }, 60_000);

  it('loses no job: the import completes exactly, expiries fire on time, claims are stored once, and readiness follows the primary', async () => {
    const primaryBefore = await cluster.sentinelPrimary();
    const listId = await createUniqueList(t, 'claims during failover', codesNamed('RF', 20_000));
    const campaignId = await createCampaign(t, [listId]);
    const expiresAt = new Date(Date.now() + 9000);
    const expiring: string[] = [];
    for (let i = 0; i < 3; i++) {
      const id = await createList(t, { name: `expiring ${i}`, kind: 'FIXED', fixedCode: `EXP${i}`, fixedLimit: 100, expiresAt: expiresAt.toISOString() });
      expiring.push(await createCampaign(t, [id]));
    }
    const importList = await createUniqueList(t, 'imported during failover', []);
    const importCodes = 100_000;
    const file = `${Array.from({ length: importCodes }, (_, i) => `RI${String(i).padStart(7, '0')}`).join('\n')}\n`;

    const granted: Array<{ id: string; code: string }> = [];
    let running = true;
    let n = 0;
    const loops = Array.from({ length: 8 }, async () => {
      while (running) {
        const response = await claim(t, { campaignId, userId: `rf-${n++}` }).catch(() => null);
        if (response?.data?.claimCoupon) granted.push(response.data.claimCoupon);
      }
    });
    const uploaded = await upload(t, importList, file);
    const uploadId = uploaded.data!.uploadCouponCodes.id as string;
    await until(async () => granted.length, (count) => count >= 20, 30_000, 'claims before the failover');

    // A manual failover, then the old primary dies for good.
    await sentinel.call('SENTINEL', 'FAILOVER', SENTINEL_MASTER);
    await until(() => cluster.sentinelPrimary(), (port) => port !== primaryBefore, 30_000);
    const oldPid = cluster.redisPid(primaryBefore);
    if (oldPid !== null) process.kill(oldPid, 'SIGKILL');

    await until(async () => (await fetch(`${t.baseUrl}/health/ready`)).status, (status) => status === 200, 30_000, 'ready on the new primary');
    const atReady = granted.length;
    await until(async () => granted.length, (count) => count >= atReady + 100, 30_000, 'claims after the failover');
    running = false;
    await Promise.all(loops);

    const done = await until(() => readUpload(t, uploadId), (u) => u.status === 'COMPLETED' || u.status === 'FAILED', 120_000);
    expect(done).toMatchObject({ status: 'COMPLETED', codesAdded: importCodes });

    for (const id of expiring) {
      const [row] = await until(
        () => t.app.dataSource.query('SELECT status, finish_reason, finished_at FROM campaigns WHERE id = ?', [id]),
        (rows: any[]) => rows[0]?.status === 'FINISHED',
        30_000,
      );
      expect(row.finish_reason).toBe('LIST_EXPIRED');
      expect(new Date(row.finished_at).getTime() - expiresAt.getTime()).toBeLessThan(5000);
    }

    const rows: Array<{ id: string; code: string }> = await t.app.dataSource.query('SELECT id, code FROM coupon_assignments WHERE list_id = ?', [listId]);
    expect(rows.length).toBe(granted.length);
    expect(new Set(rows.map((row) => row.code)).size).toBe(rows.length);
    const stored = new Map(rows.map((row) => [row.id, row.code]));
    for (const answer of granted) expect(stored.get(answer.id)).toBe(answer.code);

    // The old primary comes back as a replica of the new one.
    await cluster.restartRedisAsReplica(primaryBefore);
  }, 240_000);

  it('sends dashboards the current figures once the subscription is back after a lost connection', async () => {
    const listId = await createUniqueList(t, 'dashboard', codesNamed('DB', 50));
    const client = wsClient(t.baseUrl, TEST_ADMIN_KEY);
    try {
      const updates = await subscribing(t.app, 'availability', () => collect(client, AVAILABILITY, { ids: [listId] }));
      // The figures change while this process's subscriber connection is cut: no notice reaches it.
      const primary = new Redis({ host: '127.0.0.1', port: await cluster.sentinelPrimary() });
      try {
        const clients = String(await primary.call('CLIENT', 'LIST', 'TYPE', 'pubsub'));
        const ours = clients.split('\n').filter((line) => line.includes('name=coupon-lists:subscribe'));
        expect(ours.length).toBeGreaterThan(0);
        await t.app.dataSource.query('UPDATE coupon_lists SET assigned_codes = 7 WHERE id = ?', [listId]);
        for (const line of ours) await primary.call('CLIENT', 'KILL', 'ID', /id=(\d+)/.exec(line)![1]);
      } finally {
        primary.disconnect();
      }
      const update = await updates.waitFor((data: any) => data.couponListAvailability.assignedCodes === 7, 15_000);
      expect(update).toMatchObject({ couponListAvailability: { listId, availableCodes: 43 } });
      updates.stop();
    } finally {
      await client.dispose();
    }
  }, 60_000);
});
