import { ClaimDatabase } from '../../src/modules/claims/claim-database';
import type { Tx } from '../../src/infra/db/transaction';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { claim, codesNamed, createCampaign, createUniqueList } from '../helpers/fixtures';

/**
 * Many campaigns claimed at once share the claim pool's few connections: a batch waits for one
 * and takes the claims that arrived meanwhile. No transaction may start that then finds nothing to
 * take (a connection and a round trip for nothing, at the busiest moment).
 */
describe('claim batches of many campaigns on a small claim pool', () => {
  let t: TestApp;
  beforeAll(async () => {
    // DB_POOL_SIZE 4: the claim pool has 2 connections for 12 campaigns.
    t = await startTestApp({ env: { ROLE: 'api', DB_POOL_SIZE: '4' } });
  });
  afterAll(() => t.destroy());

  it('runs no claim transaction without claims, and answers every claim once', async () => {
    const campaigns = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => createCampaign(t, [await createUniqueList(t, `shared pool ${i}`, codesNamed(`SP${i}`, 20))])),
    );
    const database = t.app.get(ClaimDatabase);
    const original = database.transaction.bind(database);
    const batches: number[] = [];
    database.transaction = <T>(work: (tx: Tx) => Promise<T>, newAssignmentIds?: () => string[]) =>
      original(async (tx) => {
        const outcomes = await work(tx);
        batches.push((outcomes as unknown[]).length);
        return outcomes;
      }, newAssignmentIds);
    try {
      // Three waves of 5 claims per campaign, each wave sent while the previous one waits for connections.
      const answers = await Promise.all(
        Array.from({ length: 3 }, (_, wave) =>
          Promise.all(campaigns.flatMap((campaignId, c) => Array.from({ length: 5 }, (_, i) => claim(t, { campaignId, userId: `w${wave}-c${c}-u${i}` })))),
        ),
      );
      const codes = answers.flat().map((answer) => answer.data?.claimCoupon?.code);
      expect(codes.filter(Boolean)).toHaveLength(180);
      expect(new Set(codes).size).toBe(180);
    } finally {
      database.transaction = original;
    }
    expect(batches.length).toBeGreaterThan(0);
    expect(batches.filter((size) => size === 0)).toEqual([]);
  }, 60_000);
});
