import { randomBytes } from 'node:crypto';
import { createDataSource, ensureDatabaseExists, openDataSource } from '../../src/infra/db/data-source';
import { DatabaseHosts } from '../../src/infra/db/database-hosts';
import { runMigrations } from '../../src/infra/db/migrate';
import { createLogger } from '../../src/infra/logging/logger';
import { dropDatabase, startTestApp, type TestApp } from '../helpers/test-app';
import { describeOnCluster, expectAnswersStored, galeraUrlPreferring, localCluster, nodeConnection } from './cluster-helpers';
import { claim, codesNamed, createCampaign, createUniqueList } from '../helpers/fixtures';

describeOnCluster('claims on a Galera cluster', () => {
  beforeAll(async () => {
    await localCluster();
  }, 180_000);

  describe('two API processes writing through two different nodes', () => {
    const database = `coupons_test_ha_${randomBytes(4).toString('hex')}`;
    const queuePrefix = `test-ha-${randomBytes(4).toString('hex')}`;
    let a: TestApp;
    let b: TestApp;

    beforeAll(async () => {
      a = await startTestApp({ env: { ROLE: 'api', DATABASE_URL: galeraUrlPreferring(0, database), CLAIM_QUEUE_MAX_WAIT_MS: '60000' }, shareWith: { databaseUrl: galeraUrlPreferring(0, database), queuePrefix } });
      b = await startTestApp({ env: { ROLE: 'api', DATABASE_URL: galeraUrlPreferring(1, database), CLAIM_QUEUE_MAX_WAIT_MS: '60000' }, shareWith: { databaseUrl: galeraUrlPreferring(1, database), queuePrefix } });
    }, 120_000);
    afterAll(async () => {
      await a?.stop();
      await b?.stop();
      await dropDatabase(galeraUrlPreferring(0, database));
    });

    it('answers only what is stored, never a code twice, and keeps the cursor at the highest assigned code', async () => {
      expect(DatabaseHosts.for(galeraUrlPreferring(0, database)).describe()).toBe('127.0.0.1:3311');
      expect(DatabaseHosts.for(galeraUrlPreferring(1, database)).describe()).toBe('127.0.0.1:3312');
      const listId = await createUniqueList(a, 'two writers', codesNamed('TW', 400));
      const campaignId = await createCampaign(a, [listId]);
      const responses = await Promise.all(Array.from({ length: 600 }, (_, i) => claim(i % 2 === 0 ? a : b, { campaignId, userId: `tw-${i}` })));
      const granted = responses.filter((r) => r.data?.claimCoupon).map((r) => r.data.claimCoupon as { id: string; code: string });
      const refusals = responses.filter((r) => r.errors).map((r) => r.errors![0].extensions?.code);
      expect(granted.length).toBeGreaterThan(0);
      // Every refusal is a real one (the list ran out), not a half-done write.
      expect(refusals.filter((code) => code !== 'LIST_EXHAUSTED' && code !== 'CAMPAIGN_FINISHED')).toEqual([]);
      expect(granted.length).toBe(400);
      await expectAnswersStored(database, listId, granted);
    });
  });

  it('migrates once when three processes start at once on three nodes', async () => {
    const database = `coupons_test_ha_${randomBytes(4).toString('hex')}`;
    const logger = createLogger('warn');
    const urls = [0, 1, 2].map((node) => galeraUrlPreferring(node, database));
    await Promise.all(urls.map((url) => DatabaseHosts.for(url).start(logger)));
    try {
      // As startApp does in each process: the database made through the process's own node.
      await Promise.all(urls.map((url) => ensureDatabaseExists(url)));
      const sources = urls.map((url) => createDataSource({ databaseUrl: url, poolSize: 2, entities: [] }));
      await Promise.all(sources.map((source, i) => openDataSource(source, urls[i])));
      try {
        await Promise.all(sources.map((source) => runMigrations(source, logger)));
        for (const node of [0, 1, 2]) {
          const connection = await nodeConnection(node, database);
          try {
            const [rows] = await connection.query<any[]>('SELECT name, COUNT(*) AS n FROM schema_migrations GROUP BY name');
            expect(rows.length).toBeGreaterThan(5);
            expect(rows.filter((row) => Number(row.n) !== 1)).toEqual([]);
            // Galera replicates only tables with a primary key reliably: every table has one.
            const [withoutKey] = await connection.query<any[]>(
              `SELECT t.table_name FROM information_schema.tables t
                WHERE t.table_schema = ? AND t.table_type = 'BASE TABLE'
                  AND NOT EXISTS (SELECT 1 FROM information_schema.table_constraints c
                                   WHERE c.table_schema = t.table_schema AND c.table_name = t.table_name AND c.constraint_type = 'PRIMARY KEY')`,
              [database],
            );
            expect(withoutKey).toEqual([]);
          } finally {
            await connection.end();
          }
        }
      } finally {
        await Promise.all(sources.map((source) => source.destroy()));
      }
    } finally {
      urls.forEach((url) => DatabaseHosts.for(url).release());
      await dropDatabase(urls[0]);
    }
  }, 120_000);
});
