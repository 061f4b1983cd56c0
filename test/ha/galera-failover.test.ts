import { randomBytes } from 'node:crypto';
import type { LocalCluster } from '../../src/infra/local-services/cluster';
import { DatabaseHosts } from '../../src/infra/db/database-hosts';
import { dropDatabase, startTestApp, type TestApp } from '../helpers/test-app';
import { readUpload, upload } from '../uploads/upload-helpers';
import { CLUSTER_URLS, describeOnCluster, expectAnswersStored, localCluster, nodeConnection } from './cluster-helpers';
import { claim, codesNamed, createCampaign, createUniqueList, until } from '../helpers/fixtures';



describeOnCluster('the writing Galera node killed under claims and an import', () => {
  const database = `coupons_test_ha_${randomBytes(4).toString('hex')}`;
  const queuePrefix = `test-ha-${randomBytes(4).toString('hex')}`;
  const url = CLUSTER_URLS.DATABASE_URL.replace(/\/coupons$/, `/${database}`);
  let cluster: LocalCluster;
  let api: TestApp;
  let all: TestApp;

  beforeAll(async () => {
    cluster = await localCluster();
    all = await startTestApp({ env: { ROLE: 'all', DATABASE_URL: url }, shareWith: { databaseUrl: url, queuePrefix } });
    api = await startTestApp({ env: { ROLE: 'api', DATABASE_URL: url }, shareWith: { databaseUrl: url, queuePrefix } });
  }, 180_000);
  afterAll(async () => {
    await api?.stop();
    await all?.stop();
    // Leave the cluster whole for the next test file.
    if (cluster) await cluster.up();
    await dropDatabase(url).catch(() => undefined);
  }, 120_000);

  it('stores every success once, consumes nothing for a failure, finishes the import exactly, and rejoins by IST', async () => {
    expect(DatabaseHosts.for(url).describe()).toBe('127.0.0.1:3311');
    const listId = await createUniqueList(api, 'failover', codesNamed('FO', 20_000));
    const campaignId = await createCampaign(api, [listId]);
    const importList = (await all.gql(`mutation { createCouponList(input: { name: "imported during failover", kind: UNIQUE }) { id } }`)).data.createCouponList.id as string;
    const importCodes = 150_000;
    const file = `${Array.from({ length: importCodes }, (_, i) => `IMP${String(i).padStart(7, '0')}`).join('\n')}\n`;

    const granted: Array<{ id: string; code: string; at: number }> = [];
    const failures: string[] = [];
    let killedAt = 0;
    let running = true;
    let n = 0;
    const loops = Array.from({ length: 16 }, async (_, loop) => {
      while (running) {
        const sentAt = Date.now();
        const response = await claim(loop % 2 === 0 ? api : all, { campaignId, userId: `fo-${n++}` }).catch((error: Error) => ({ errors: [{ message: error.message }] }) as any);
        if (response.data?.claimCoupon) granted.push({ ...response.data.claimCoupon, at: sentAt });
        else failures.push(response.errors?.[0]?.message ?? 'no answer');
      }
    });

    // Claims flow through both processes before anything fails.
    await until(async () => granted.length, (count) => count >= 50, 30_000, 'claims before the failure');
    const uploaded = await upload(all, importList, file);
    const uploadId = uploaded.data!.uploadCouponCodes.id as string;
    await until(() => readUpload(all, uploadId), (u) => u.status === 'PROCESSING', 30_000);
    const before = granted.length;
    cluster.killNode(0);
    killedAt = Date.now();
    // Claims come back on the next node.
    await until(async () => granted.filter((g) => g.at > killedAt).length, (count) => count > 0, 30_000);
    const firstAfter = Math.min(...granted.filter((g) => g.at > killedAt).map((g) => g.at));
    await until(async () => granted.filter((g) => g.at > killedAt).length, (count) => count >= 100, 30_000, 'claims on the next node');
    running = false;
    await Promise.all(loops);

    expect(before).toBeGreaterThan(0);
    expect(firstAfter - killedAt).toBeLessThan(10_000);
    expect(DatabaseHosts.for(url).describe()).not.toBe('127.0.0.1:3311');
    await expectAnswersStored(database, listId, granted, [1, 2]);

    const done = await until(() => readUpload(all, uploadId), (u) => u.status === 'COMPLETED' || u.status === 'FAILED', 120_000);
    expect(done).toMatchObject({ status: 'COMPLETED', codesAdded: importCodes, duplicatesSkipped: 0 });
    const connection = await nodeConnection(1, database);
    try {
      const [[row]] = await connection.query<any[]>('SELECT COUNT(*) AS n, COUNT(DISTINCT seq) AS seqs FROM coupon_codes WHERE list_id = ?', [importList]);
      expect({ n: Number(row.n), seqs: Number(row.seqs) }).toEqual({ n: importCodes, seqs: importCodes });
      const [[list]] = await connection.query<any[]>('SELECT total_codes FROM coupon_lists WHERE id = ?', [importList]);
      expect(Number(list.total_codes)).toBe(importCodes);
    } finally {
      await connection.end();
    }

    // The killed node comes back by IST (its position recovered first), with every row.
    await cluster.startNode(0);
    expect(cluster.joinedByIst(0)).toBe(true);
    await expectAnswersStored(database, listId, granted, [0]);
    console.log(`failover: ${before} claims before the kill, first success ${firstAfter - killedAt} ms after it, ${granted.length} in all, ${failures.length} refused (${[...new Set(failures)].slice(0, 3).join(' | ')})`);
  }, 300_000);
});
