import mysql from 'mysql2/promise';
import { ClaimsOverloadedError } from '../../src/common/errors';
import { parseDatabaseUrl } from '../../src/config/database-url';
import { ClaimService } from '../../src/modules/claims/claim.service';
import { FinishedCampaigns } from '../../src/modules/claims/finished-campaigns';
import { ApiKeyRole } from '../../src/modules/auth/api-key-role';
import { startTestApp, TEST_ADMIN_KEY, type TestApp } from '../helpers/test-app';
import { campaignState, claim, codesNamed, createCampaign, createUniqueList } from '../helpers/fixtures';

/** Resolves once `condition` holds, checking on every turn of the event loop (no fixed sleep). */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
}

/**
 * Holds the campaign row lock in a connection of its own, as a claim batch in another process
 * would: anything that needs a claim transaction on the campaign waits until `release()`.
 */
async function lockCampaign(t: TestApp, campaignId: string) {
  const connection = await mysql.createConnection(parseDatabaseUrl(t.databaseUrl));
  await connection.query('START TRANSACTION');
  await connection.query('SELECT id FROM campaigns WHERE id = ? FOR UPDATE', [campaignId]);
  return {
    release: async () => {
      await connection.query('ROLLBACK');
      await connection.end();
    },
  };
}

describe('claims in finished campaigns', () => {
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    a = await startTestApp();
    // A second process of the same deployment: it learns of finished campaigns only through Redis.
    b = await startTestApp({ shareWith: { databaseUrl: a.databaseUrl, queuePrefix: a.queuePrefix } });
  });
  afterAll(async () => {
    await b.destroy();
    await a.destroy();
  });

  it('refuses on every process without a transaction once a campaign has finished, keeping the window rule and listId checks', async () => {
    const listId = await createUniqueList(a, 'flash', codesNamed('FL', 3));
    const otherList = await createUniqueList(a, 'not in the campaign', codesNamed('NI', 1));
    const campaignId = await createCampaign(a, [listId]);
    const winners = await Promise.all([1, 2, 3].map((n) => claim(a, { campaignId, userId: `winner-${n}` })));
    expect(winners.every((response) => response.data?.claimCoupon.reused === false)).toBe(true);
    const last = await claim(a, { campaignId, userId: 'too-late-0' });
    expect(last.errors?.[0].extensions?.code).toMatch(/LIST_EXHAUSTED|CAMPAIGN_FINISHED/);
    expect(await campaignState(a, campaignId)).toEqual({ status: 'FINISHED', finishReason: 'LIST_EXHAUSTED' });

    // B never claimed in this campaign: it hears of the end from A through Redis.
    await until(() => b.app.get(FinishedCampaigns).isFinished(campaignId));
    expect(a.app.get(FinishedCampaigns).isFinished(campaignId)).toBe(true);

    // With the campaign row locked, a claim transaction could not even start its first statement.
    const lock = await lockCampaign(a, campaignId);
    try {
      for (const t of [a, b]) {
        const refused = await claim(t, { campaignId, userId: `too-late-${t === a ? 'a' : 'b'}` });
        expect(refused.errors?.[0].extensions).toMatchObject({ code: 'CAMPAIGN_FINISHED', campaignId, finishReason: 'LIST_EXHAUSTED' });
        const badList = await claim(t, { campaignId, userId: 'someone', listId: otherList });
        expect(badList.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.listId' });
      }
      // A winner inside the claim window still gets the code back; that goes on to the claim
      // engine (the hand-back is recorded), which waits for the lock like any claim transaction.
      const reused = claim(b, { campaignId, userId: 'winner-2' });
      await lock.release();
      const answer = await reused;
      expect(answer.data?.claimCoupon).toMatchObject({ id: winners[1].data!.claimCoupon.id, code: winners[1].data!.claimCoupon.code, reused: true });
    } finally {
      await lock.release().catch(() => undefined);
    }
  });

  it('answers claims in a finished campaign before execution exactly as execution answers them', async () => {
    const listId = await createUniqueList(a, 'one code', codesNamed('OC', 1));
    const campaignId = await createCampaign(a, [listId]);
    const winner = await claim(a, { campaignId, userId: 'winner' });
    await claim(a, { campaignId, userId: 'late' });
    await until(() => a.app.get(FinishedCampaigns).isFinished(campaignId));
    const elsewhere = await a.createKey('CLIENT', [await createCampaign(a, [await createUniqueList(a, 'other', codesNamed('OT', 1))])]);
    const viewer = await a.createKey('VIEWER');

    const query = 'mutation Claim($in: ClaimCouponInput!) {\n  late: claimCoupon(input: $in) { id code reused }\n}';
    const post = async (input: Record<string, unknown>, key = TEST_ADMIN_KEY) => {
      const response = await fetch(`${a.baseUrl}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ query, variables: { in: input } }),
      });
      return { status: response.status, type: response.headers.get('content-type'), body: await response.text() };
    };
    // The same claim twice: with the campaign id as a number (GraphQL's ID takes integers), which
    // the early answer leaves to execution, and as the string widget backends send.
    const cases: Array<[string, Record<string, unknown>, string?]> = [
      ['refused', { userId: 'late-2' }],
      ['bad input', { userId: '' }],
      ['bad list', { userId: 'late-3', listId: '999999' }],
      ['another campaign\'s key', { userId: 'late-4' }, elsewhere],
      ['a key without the role', { userId: 'late-5' }, viewer],
      ['inside the window', { userId: 'winner', externalId: 'again' }],
    ];
    for (const [name, input, key] of cases) {
      const executed = await post({ ...input, campaignId: Number(campaignId) }, key);
      const early = await post({ ...input, campaignId }, key);
      expect({ name, ...early }).toEqual({ name, ...executed });
    }
    expect(JSON.parse((await post({ campaignId, userId: 'late-6' })).body)).toEqual({
      errors: [
        {
          message: expect.stringContaining('finished'),
          locations: [{ line: 2, column: 3 }],
          path: ['late'],
          extensions: expect.objectContaining({ code: 'CAMPAIGN_FINISHED', campaignId }),
        },
      ],
      data: null,
    });
    expect(JSON.parse((await post({ campaignId, userId: 'winner' })).body).data.late).toEqual({ id: winner.data!.claimCoupon.id, code: winner.data!.claimCoupon.code, reused: true });
  });

  it('learns of a campaign finished by hand, and of one found finished by a claim transaction', async () => {
    const listId = await createUniqueList(a, 'by hand', codesNamed('BH', 5));
    const campaignId = await createCampaign(a, [listId]);
    const finished = await a.gql(`mutation($id: ID!) { finishCampaign(id: $id) { status } }`, { id: campaignId });
    expect(finished.data?.finishCampaign.status).toBe('FINISHED');
    await until(() => b.app.get(FinishedCampaigns).isFinished(campaignId));

    // A process that missed the message: its first claim's transaction finds the campaign finished.
    const missed = await createCampaign(a, [await createUniqueList(a, 'missed', codesNamed('MS', 1))]);
    await a.app.dataSource.query(`UPDATE campaigns SET status = 'FINISHED', finish_reason = 'LIST_EXHAUSTED', finished_at = UTC_TIMESTAMP(3) WHERE id = ?`, [missed]);
    expect(b.app.get(FinishedCampaigns).isFinished(missed)).toBe(false);
    const first = await claim(b, { campaignId: missed, userId: 'first' });
    expect(first.errors?.[0].extensions?.code).toBe('CAMPAIGN_FINISHED');
    expect(b.app.get(FinishedCampaigns).isFinished(missed)).toBe(true);
  });
});

describe('the bounded claim queue', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ env: { CLAIM_QUEUE_LIMIT: '3' } });
  });
  afterAll(() => t.destroy());

  it('refuses claims beyond CLAIM_QUEUE_LIMIT at once with RATE_LIMITED and retryAfterMs, and answers the others', async () => {
    const listId = await createUniqueList(t, 'queue', codesNamed('QU', 20));
    const campaignId = await createCampaign(t, [listId]);
    const claims = t.app.get(ClaimService);
    const caller = { keyId: 'bootstrap', role: ApiKeyRole.CLIENT };
    // Called in one turn of the event loop: none has left the queue for a transaction yet.
    const outcomes = await Promise.allSettled(Array.from({ length: 10 }, (_, n) => claims.claimAs(caller, { campaignId, userId: `queued-${n}` })));
    const answered = outcomes.filter((outcome) => outcome.status === 'fulfilled');
    const shed = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason] : []));
    expect(answered).toHaveLength(3);
    expect(shed).toHaveLength(7);
    for (const error of shed) {
      expect(error).toBeInstanceOf(ClaimsOverloadedError);
      expect(error).toMatchObject({ code: 'RATE_LIMITED', details: { retryAfterMs: 1000 } });
    }
    // Once the queue has drained, claims are taken again.
    const later = await claim(t, { campaignId, userId: 'later' });
    expect(later.data?.claimCoupon.reused).toBe(false);
  });
});

describe('claims that wait too long for a transaction', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ env: { CLAIM_QUEUE_MAX_WAIT_MS: '200' } });
  });
  afterAll(() => t.destroy());

  it('refuses them with RATE_LIMITED when the next batch forms, instead of answering after the client gave up', async () => {
    const listId = await createUniqueList(t, 'slow', codesNamed('SL', 10));
    const campaignId = await createCampaign(t, [listId]);
    const claims = t.app.get(ClaimService);
    const caller = { keyId: 'bootstrap', role: ApiKeyRole.CLIENT };
    const lock = await lockCampaign(t, campaignId);
    try {
      // Two batches (one per slot), each holding its claim, wait for the campaign lock; three more claims wait behind them.
      const first = claims.claimAs(caller, { campaignId, userId: 'slow-1' });
      await until(() => claims.queueState().batchesInFlight === 1 && claims.queueState().waiting === 0);
      const second = claims.claimAs(caller, { campaignId, userId: 'slow-2' });
      await until(() => claims.queueState().batchesInFlight === 2 && claims.queueState().waiting === 0);
      const queuedAt = performance.now();
      const queued = [3, 4, 5].map((n) => claims.claimAs(caller, { campaignId, userId: `slow-${n}` }).then(() => 'answered', (error: unknown) => error));
      await until(() => performance.now() - queuedAt > 250);
      expect(claims.queueState()).toEqual({ waiting: 3, batchesInFlight: 2 });
      await lock.release();
      expect((await first).reused).toBe(false);
      expect((await second).reused).toBe(false);
      for (const outcome of await Promise.all(queued)) {
        expect(outcome).toBeInstanceOf(ClaimsOverloadedError);
        expect(outcome).toMatchObject({ code: 'RATE_LIMITED', details: { retryAfterMs: 1000 } });
      }
    } finally {
      await lock.release().catch(() => undefined);
    }
    // Once the queue moves, claims are served again.
    expect((await claim(t, { campaignId, userId: 'after' })).data?.claimCoupon.reused).toBe(false);
  });
});
