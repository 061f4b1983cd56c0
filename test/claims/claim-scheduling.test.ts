import { ClaimDatabase } from '../../src/modules/claims/claim-database';
import { runClaimBatch, type ClaimOutcome } from '../../src/modules/claims/claim-batch';
import type { Tx } from '../../src/infra/db/transaction';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { campaignState, claim, codesNamed, createCampaign, createUniqueList, listFigures } from '../helpers/fixtures';

/**
 * Many campaigns claimed at once share the claim pool's few connections and its transactions: a
 * transaction waits for a connection and takes the claims of every campaign that arrived
 * meanwhile. No transaction may start that then finds nothing to take (a connection and a round
 * trip for nothing, at the busiest moment).
 */
describe('claim batches of many campaigns on a small claim pool', () => {
  let t: TestApp;
  beforeAll(async () => {
    // DB_POOL_SIZE 4: the claim pool has 2 connections for 12 campaigns.
    t = await startTestApp({ env: { ROLE: 'api', DB_POOL_SIZE: '4' } });
  });
  afterAll(() => t.destroy());

  it('runs several campaigns in one transaction, none without claims, and answers every claim once', async () => {
    const campaigns = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => createCampaign(t, [await createUniqueList(t, `shared pool ${i}`, codesNamed(`SP${i}`, 20))])),
    );
    const database = t.app.get(ClaimDatabase);
    const original = database.transaction.bind(database);
    const batches: Array<{ campaigns: number; claims: number }> = [];
    database.transaction = <T>(work: (tx: Tx) => Promise<T>, newAssignmentIds?: () => string[]) =>
      original(async (tx) => {
        const outcomes = await work(tx);
        const groups = outcomes as unknown as ClaimOutcome[][];
        batches.push({ campaigns: groups.length, claims: groups.flat().length });
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
    expect(batches.filter((batch) => batch.claims === 0)).toEqual([]);
    expect(batches.reduce((sum, batch) => sum + batch.claims, 0)).toBe(180);
    // One transaction per campaign and wave would be 36.
    expect(Math.max(...batches.map((batch) => batch.campaigns))).toBeGreaterThan(1);
    for (const campaignId of campaigns) expect((await campaignState(t, campaignId)).status).toBe('ACTIVE');
  }, 60_000);
});

/** One transaction for several campaigns that draw from the same list: they take its codes one after another. */
describe('a claim batch of campaigns sharing a list', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ env: { ROLE: 'api' } });
  });
  afterAll(() => t.destroy());

  const run = (batch: Array<{ campaignId: string; users: string[] }>) =>
    t.app.get(ClaimDatabase).transaction((tx) =>
      runClaimBatch(
        tx,
        batch.map(({ campaignId, users }) => ({ campaignId, claims: users.map((userId) => ({ campaignId, userId, externalId: null, listId: null })) })),
        t.app.config.CLAIM_WINDOW_SECONDS,
      ),
    );
  const said = (outcome: ClaimOutcome) => ('assignment' in outcome ? `${outcome.assignment.code}${outcome.assignment.reused ? ' again' : ''}` : outcome.error.code);

  it('hands each code out once, moves the list once, and finishes every campaign the last code ends', async () => {
    const shared = await createUniqueList(t, 'shared', codesNamed('SH', 5));
    const own = await createUniqueList(t, 'own', codesNamed('OW', 1));
    // A draws from the shared list only; B from its own list first, then the shared one; C from its own list, untouched.
    const a = await createCampaign(t, [shared]);
    const b = await createCampaign(t, [own, shared]);
    const cList = await createUniqueList(t, 'c own', codesNamed('CO', 3));
    const c = await createCampaign(t, [cList]);

    const first = await run([
      { campaignId: a, users: ['a1', 'a2', 'a1'] },
      { campaignId: b, users: ['b1', 'b2'] },
      { campaignId: c, users: ['c1'] },
    ]);
    expect(first.map((outcomes) => outcomes.map(said))).toEqual([
      ['SH-00000', 'SH-00001', 'SH-00000 again'],
      ['OW-00000', 'SH-00002'],
      ['CO-00000'],
    ]);
    expect(await listFigures(t, shared)).toMatchObject({ assignedCodes: 3, availableCodes: 2 });

    // The window holds per campaign; B's claims exhaust the shared list A still draws from.
    const second = await run([
      { campaignId: a, users: ['a2', 'a3'] },
      { campaignId: b, users: ['b1', 'b3', 'b4'] },
    ]);
    expect(second.map((outcomes) => outcomes.map(said))).toEqual([
      ['SH-00001 again', 'SH-00003'],
      ['OW-00000 again', 'SH-00004', 'LIST_EXHAUSTED'],
    ]);
    expect(await listFigures(t, shared)).toMatchObject({ assignedCodes: 5, availableCodes: 0 });
    expect(await listFigures(t, own)).toMatchObject({ assignedCodes: 1, availableCodes: 0 });
    expect(await campaignState(t, a)).toEqual({ status: 'FINISHED', finishReason: 'LIST_EXHAUSTED' });
    expect(await campaignState(t, b)).toEqual({ status: 'FINISHED', finishReason: 'LIST_EXHAUSTED' });
    expect(await campaignState(t, c)).toMatchObject({ status: 'ACTIVE' });
    const [row] = await t.app.dataSource.query('SELECT claim_cursor, assigned_codes FROM coupon_lists WHERE id = ?', [shared]);
    expect({ cursor: Number(row.claim_cursor), assigned: Number(row.assigned_codes) }).toEqual({ cursor: 5, assigned: 5 });
    const [stored] = await t.app.dataSource.query('SELECT COUNT(*) AS n, COUNT(DISTINCT code) AS codes FROM coupon_assignments WHERE list_id = ?', [shared]);
    expect({ n: Number(stored.n), codes: Number(stored.codes) }).toEqual({ n: 5, codes: 5 });

    // A finished campaign and an unknown one in one batch with an active one.
    const third = await run([
      { campaignId: a, users: ['a9'] },
      { campaignId: c, users: ['c2'] },
      { campaignId: '999999', users: ['x'] },
    ]);
    expect(third.map((outcomes) => outcomes.map(said))).toEqual([['CAMPAIGN_FINISHED'], ['CO-00001'], ['NOT_FOUND']]);
  });
});
