import { errorCode, type GraphQLResponse } from '../helpers/graphql-client';
import { startTestApp, TEST_ADMIN_KEY, type TestApp } from '../helpers/test-app';
import { uploadCodes } from '../../bench/lib/upload-client';
import { ClaimService } from '../../src/modules/claims/claim.service';
import { appendCodes, campaignState, claim, codesNamed, createCampaign, createList, createUniqueList, listFigures } from '../helpers/fixtures';

/** The invariants every UNIQUE list must hold, read straight from the tables. */
async function expectListConsistent(t: TestApp, listId: string): Promise<number> {
  const [row] = await t.app.dataSource.query(
    `SELECT COUNT(*) AS assigned, COUNT(DISTINCT code_seq) AS seqs, COUNT(DISTINCT code) AS codes, COALESCE(MAX(code_seq), 0) AS maxSeq,
            (SELECT assigned_codes FROM coupon_lists WHERE id = ?) AS counter,
            (SELECT claim_cursor FROM coupon_lists WHERE id = ?) AS claimCursor
       FROM coupon_assignments WHERE list_id = ?`,
    [listId, listId, listId],
  );
  const assigned = Number(row.assigned);
  // No code twice; the counter is exact; codes went out in upload order (a prefix of the seqs).
  expect({ seqs: Number(row.seqs), codes: Number(row.codes), counter: Number(row.counter), maxSeq: Number(row.maxSeq), cursor: Number(row.claimCursor) }).toEqual({
    seqs: assigned,
    codes: assigned,
    counter: assigned,
    maxSeq: assigned,
    cursor: assigned,
  });
  return assigned;
}

describe('claims over two API processes of one deployment', () => {
  let a: TestApp;
  let b: TestApp;
  let keyA: string;

  beforeAll(async () => {
    a = await startTestApp({ env: { ROLE: 'api' } });
    b = await startTestApp({ env: { ROLE: 'api' }, shareWith: { databaseUrl: a.databaseUrl, queuePrefix: a.queuePrefix } });
    keyA = await a.createKey('CLIENT');
  });
  afterAll(async () => {
    await b.stop();
    await a.destroy();
  });

  it('never hands one code twice when claims are spread over both processes', async () => {
    const listId = await createUniqueList(a, 'two processes', codesNamed('TP', 150));
    const campaignId = await createCampaign(a, [listId]);
    const responses = await Promise.all(
      Array.from({ length: 180 }, (_, i) => claim(i % 2 === 0 ? a : b, { campaignId, userId: `tp-${i}` }, keyA)),
    );
    const granted = responses.filter((r) => r.data?.claimCoupon).map((r) => r.data.claimCoupon);
    expect(granted).toHaveLength(150);
    expect(new Set(granted.map((g) => g.code)).size).toBe(150);
    expect(responses.filter((r) => r.errors).map(errorCode).every((code) => code === 'LIST_EXHAUSTED' || code === 'CAMPAIGN_FINISHED')).toBe(true);
    expect(await expectListConsistent(a, listId)).toBe(150);
  });

  it('gives one user one code when the same claim reaches both processes at once', async () => {
    const listId = await createUniqueList(a, 'one user two processes', codesNamed('OU', 20));
    const campaignId = await createCampaign(a, [listId]);
    const responses = await Promise.all(Array.from({ length: 30 }, (_, i) => claim(i % 2 === 0 ? a : b, { campaignId, userId: 'twin' }, keyA)));
    const assignments = responses.map((r) => r.data.claimCoupon);
    expect(new Set(assignments.map((x) => x.id)).size).toBe(1);
    expect(assignments.filter((x) => !x.reused)).toHaveLength(1);
    expect(await expectListConsistent(a, listId)).toBe(1);
  });

  it('holds a FIXED limit exactly over both processes', async () => {
    const listId = await createList(a, { name: 'fixed two processes', kind: 'FIXED', fixedCode: 'BOTH', fixedLimit: 33 });
    const campaignId = await createCampaign(a, [listId]);
    const responses = await Promise.all(Array.from({ length: 70 }, (_, i) => claim(i % 2 === 0 ? a : b, { campaignId, userId: `fx-${i}` }, keyA)));
    expect(responses.filter((r) => r.data?.claimCoupon)).toHaveLength(33);
    expect((await listFigures(a, listId)).assignedCodes).toBe(33);
  });

  it('stays correct while codes are appended by the upload protocol during the claims', async () => {
    const listId = await createUniqueList(a, 'growing', codesNamed('G0', 100));
    const campaignId = await createCampaign(a, [listId]);
    const appending = (async () => {
      for (let round = 1; round <= 5; round++) await appendCodes(a.app, listId, codesNamed(`G${round}`, 100));
    })();
    const responses: GraphQLResponse[] = [];
    const users = Array.from({ length: 250 }, (_, i) => `grow-${i}`);
    // 16 clients claiming one after another, half on each process.
    await Promise.all(
      Array.from({ length: 16 }, async (_, client) => {
        for (let i = client; i < users.length; i += 16) responses.push(await claim(client % 2 === 0 ? a : b, { campaignId, userId: users[i] }, keyA));
      }),
    );
    await appending;
    const granted = responses.filter((r) => r.data?.claimCoupon).length;
    expect(await expectListConsistent(a, listId)).toBe(granted);
    expect(granted).toBeGreaterThanOrEqual(100);
    expect(await listFigures(a, listId)).toMatchObject({ totalCodes: 600, assignedCodes: granted });
  });
});

describe('the claim rate limit', () => {
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    a = await startTestApp({ env: { ROLE: 'api', CLAIM_RATE_LIMIT: '5' } });
    b = await startTestApp({ env: { ROLE: 'api', CLAIM_RATE_LIMIT: '5' }, shareWith: { databaseUrl: a.databaseUrl, queuePrefix: a.queuePrefix } });
  });
  afterAll(async () => {
    await b.stop();
    await a.destroy();
  });

  it('is shared by the processes, per API key, and answers RATE_LIMITED', async () => {
    const listId = await createList(a, { name: 'limited', kind: 'FIXED', fixedCode: 'LIMIT', fixedLimit: 1000 });
    const campaignId = await createCampaign(a, [listId]);
    const [key1, key2] = [await a.createKey('CLIENT'), await a.createKey('CLIENT')];
    const started = Date.now();
    const responses = await Promise.all(Array.from({ length: 20 }, (_, i) => claim(i % 2 === 0 ? a : b, { campaignId, userId: `rl-${i}` }, key1)));
    const elapsed = Date.now() - started;
    const codes = responses.map((r) => errorCode(r) ?? 'OK');
    const ok = codes.filter((code) => code === 'OK').length;
    expect(codes.filter((code) => code !== 'OK' && code !== 'RATE_LIMITED')).toEqual([]);
    // 5 per second for the key over both processes (two one-second windows at most if slow).
    if (elapsed < 900) expect(ok).toBe(5);
    else expect(ok).toBeLessThanOrEqual(10);
    const limited = responses.find((r) => errorCode(r) === 'RATE_LIMITED')!;
    expect(limited.errors![0].extensions!.retryAfterMs).toBeGreaterThan(0);
    // Another key has its own allowance.
    expect(errorCode(await claim(b, { campaignId, userId: 'rl-other' }, key2))).toBeUndefined();
    // After the second is over the key may claim again.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(errorCode(await claim(a, { campaignId, userId: 'rl-later' }, key1))).toBeUndefined();
  });

  it('counts a key once over all processes: its allowance used up on one process is refused on the other', async () => {
    const listId = await createList(a, { name: 'limited across', kind: 'FIXED', fixedCode: 'ACROSS', fixedLimit: 1000 });
    const campaignId = await createCampaign(a, [listId]);
    // Counted per process, the other process would always answer a key it has not seen yet; counted
    // in Redis it refuses it within the same second. A second can end between the two steps, so
    // a few fresh keys are tried: per process, none of them is ever refused on the other process.
    const refusedElsewhere: string[] = [];
    for (let attempt = 0; attempt < 5 && refusedElsewhere.length === 0; attempt++) {
      const key = await a.createKey('CLIENT');
      const here = await Promise.all(Array.from({ length: 8 }, (_, i) => claim(a, { campaignId, userId: `across-${attempt}-${i}` }, key)));
      if (!here.some((response) => errorCode(response) === 'RATE_LIMITED')) continue; // the claims spread over two seconds
      const other = await claim(b, { campaignId, userId: `across-${attempt}-other` }, key);
      if (errorCode(other) === 'RATE_LIMITED') refusedElsewhere.push(key);
      else expect(errorCode(other)).toBeUndefined();
    }
    expect(refusedElsewhere).toHaveLength(1);
  });
});

describe('stopping a process', () => {
  it('answers every claim it has received before its connections close', async () => {
    const t = await startTestApp({ env: { ROLE: 'api' } });
    try {
      const listId = await createUniqueList(t, 'stopping', codesNamed('ST', 300));
      const campaignId = await createCampaign(t, [listId]);
      const service = t.app.get(ClaimService);
      const claims = Array.from({ length: 300 }, (_, i) => service.claim({ campaignId, userId: `st-${i}` }));
      const stopped = t.stop();
      const results = await Promise.allSettled(claims);
      await stopped;
      expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
      expect(new Set(results.map((r) => (r as PromiseFulfilledResult<{ code: string }>).value.code)).size).toBe(300);
    } finally {
      await t.destroy();
    }
  });
});

describe('claims during an APPEND upload', () => {
  it('hand out the old codes, then the uploaded ones in file order, each once', async () => {
    const t = await startTestApp();
    try {
      const listId = await createUniqueList(t, 'append during claims', codesNamed('OLD', 50));
      // A fallback slice keeps the campaign going whenever the unique list runs dry before the
      // upload's codes are live, so that claims run through the whole upload whatever its pace.
      const fallback = await createList(t, { name: 'fallback', kind: 'FIXED', fixedCode: 'FALLBACK', fixedLimit: 100_000 });
      const campaignId = await createCampaign(t, [listId, fallback]);
      const uploaded = codesNamed('NEW', 2000);
      const started = await uploadCodes({ baseUrl: t.baseUrl, key: TEST_ADMIN_KEY, listId, fileName: 'more.txt', content: uploaded.join('\n'), mode: 'APPEND' });
      expect(started.errors).toBeUndefined();
      const uploadId = started.data.uploadCouponCodes.id;
      const granted: string[] = [];
      let done = false;
      const claimers = Array.from({ length: 8 }, async (_, client) => {
        for (let i = 0; !done; i++) {
          const response = await claim(t, { campaignId, userId: `ap-${client}-${i}` });
          if (response.data?.claimCoupon.listId === listId) granted.push(response.data.claimCoupon.code);
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
      });
      for (;;) {
        const status = (await t.gql(`query($id: ID!) { codeUpload(id: $id) { status } }`, { id: uploadId })).data.codeUpload.status;
        if (status === 'COMPLETED' || status === 'FAILED') break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      done = true;
      await Promise.all(claimers);
      const upload = (await t.gql(`query($id: ID!) { codeUpload(id: $id) { status codesAdded } }`, { id: uploadId })).data.codeUpload;
      expect(upload).toEqual({ status: 'COMPLETED', codesAdded: 2000 });
      // After the upload, default claims come from the unique list (first by position).
      const after = (await claim(t, { campaignId, userId: 'ap-after' })).data.claimCoupon;
      expect(after.listId).toBe(listId);
      granted.push(after.code);

      const assigned = await expectListConsistent(t, listId);
      expect(assigned).toBe(granted.length);
      // Handed out in upload order: the old codes first, then the file's, in its order.
      const handedInOrder: Array<{ code: string }> = await t.app.dataSource.query(
        'SELECT code FROM coupon_assignments WHERE list_id = ? ORDER BY code_seq',
        [listId],
      );
      expect(handedInOrder.map((row) => row.code)).toEqual([...codesNamed('OLD', 50), ...uploaded].slice(0, assigned));
      expect(await listFigures(t, listId)).toMatchObject({ totalCodes: 2050, assignedCodes: assigned });
      expect((await campaignState(t, campaignId)).status).toBe('ACTIVE');
    } finally {
      await t.destroy();
    }
  });
});
