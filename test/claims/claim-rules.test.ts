import { CampaignStatusChanged } from '../../src/modules/campaigns/campaign.events';
import { CouponAssignmentsReused, CouponsAssigned } from '../../src/modules/claims/claim.events';
import { CouponListStockChanged } from '../../src/modules/lists/coupon-list.events';
import { CODE_READ_SQL } from '../../src/modules/claims/claim-batch';
import { ClaimDatabase } from '../../src/modules/claims/claim-database';
import { ClaimService } from '../../src/modules/claims/claim.service';
import { errorCode } from '../helpers/graphql-client';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { campaignState, claim, codesNamed, createCampaign, createList, createUniqueList, listFigures, recordEvents, sleep } from '../helpers/fixtures';

const WINDOW_SECONDS = 2;

describe('claimCoupon rules', () => {
  let t: TestApp;
  let clientKey: string;

  beforeAll(async () => {
    t = await startTestApp({ env: { CLAIM_WINDOW_SECONDS: String(WINDOW_SECONDS) } });
    clientKey = await t.createKey('CLIENT');
  });
  afterAll(() => t.destroy());

  it('hands N codes to N concurrent users exactly once, then refuses and finishes the campaign', async () => {
    const n = 40;
    const codes = codesNamed('N', n);
    const listId = await createUniqueList(t, 'N codes', codes);
    const campaignId = await createCampaign(t, [listId]);
    const responses = await Promise.all(
      Array.from({ length: n + 1 }, (_, i) => claim(t, { campaignId, userId: `user-${i}`, externalId: `ext-${i}` }, clientKey)),
    );
    const granted = responses.filter((r) => r.data?.claimCoupon);
    const refused = responses.filter((r) => r.errors);
    expect(granted).toHaveLength(n);
    expect(refused).toHaveLength(1);
    // The one refused claim came after the last code: in its batch the list was exhausted, or in
    // a later batch the campaign had already finished.
    expect(['LIST_EXHAUSTED', 'CAMPAIGN_FINISHED']).toContain(errorCode(refused[0]));
    const handed = granted.map((r) => r.data.claimCoupon.code).sort();
    expect(handed).toEqual(codes);
    for (const r of granted) {
      const a = r.data.claimCoupon;
      expect(a).toMatchObject({ listId, campaignId, reused: false, expiresAt: null });
      expect(a.externalId).toBe(a.userId.replace('user-', 'ext-'));
    }
    const [{ n: rows }] = await t.app.dataSource.query('SELECT COUNT(*) AS n FROM coupon_assignments WHERE list_id = ?', [listId]);
    expect(Number(rows)).toBe(n);
    expect(await listFigures(t, listId)).toMatchObject({ totalCodes: n, assignedCodes: n, availableCodes: 0, status: 'EXHAUSTED' });
    expect(await campaignState(t, campaignId)).toEqual({ status: 'FINISHED', finishReason: 'LIST_EXHAUSTED' });
    expect(errorCode(await claim(t, { campaignId, userId: 'late' }, clientKey))).toBe('CAMPAIGN_FINISHED');
    // A refusal answered without a transaction is a complete GraphQL error: located at its field
    // (an alias's path), with the contract's code and details, and no stack trace or internals.
    const aliased = await t.gql(
      `mutation($input: ClaimCouponInput!) {\n  late: claimCoupon(input: $input) { id }\n}`,
      { input: { campaignId, userId: 'late-2' } },
      clientKey,
    );
    expect(aliased.errors).toEqual([
      {
        message: `Campaign ${campaignId} is finished (LIST_EXHAUSTED)`,
        locations: [{ line: 2, column: 3 }],
        path: ['late'],
        extensions: { code: 'CAMPAIGN_FINISHED', campaignId, finishReason: 'LIST_EXHAUSTED' },
      },
    ]);
  });

  it('reads the next codes as a primary-key range, however many codes are used already', async () => {
    const listId = await createUniqueList(t, 'mostly used', codesNamed('MU', 20_000));
    await t.app.dataSource.query('UPDATE coupon_lists SET claim_cursor = 19900, assigned_codes = 19900 WHERE id = ?', [listId]);
    await t.app.dataSource.query('ANALYZE TABLE coupon_codes');
    const plan = await t.app.dataSource.query(`EXPLAIN ${CODE_READ_SQL}`, [listId, 19900, 20000, 64]);
    expect(plan[0]).toMatchObject({ key: 'PRIMARY', type: 'range' });
    const campaignId = await createCampaign(t, [listId]);
    expect((await claim(t, { campaignId, userId: 'mu-1' })).data.claimCoupon.code).toBe('MU-19900');
  });

  it('runs claim transactions READ COMMITTED on every connection of the claim pool', async () => {
    const levels = await Promise.all(
      Array.from({ length: 8 }, () =>
        t.app.get(ClaimDatabase).transaction(async (tx) => {
          const [row] = await tx.query('SELECT @@tx_isolation AS level, SLEEP(0.05) AS pause');
          return row.level;
        }),
      ),
    );
    expect(new Set(levels)).toEqual(new Set(['READ-COMMITTED']));
  });

  it('opens claim transactions with their first statement, and a failed one leaves nothing open for the next user of its connection', async () => {
    const database = t.app.get(ClaimDatabase);
    const listId = await createUniqueList(t, 'untouched', codesNamed('UT', 1));
    await expect(
      database.transaction(async (tx) => {
        await tx.query("UPDATE coupon_lists SET name = 'changed by a failed batch' WHERE id = ?", [listId]);
        throw new Error('batch refused');
      }),
    ).rejects.toThrow('batch refused');
    // Every connection of the pool, held at once: none has sent START TRANSACTION, none carries the failed write.
    const sessions = await Promise.all(
      Array.from({ length: 8 }, () =>
        database.transaction(async (tx) => {
          const [begins] = await tx.query("SHOW SESSION STATUS LIKE 'Com_begin'");
          await tx.query('SELECT SLEEP(0.05)');
          return Number(begins.Value);
        }),
      ),
    );
    expect(sessions).toEqual(sessions.map(() => 0));
    const [list] = await t.app.dataSource.query('SELECT name FROM coupon_lists WHERE id = ?', [listId]);
    expect(list.name).toBe('untouched');
  });

  it('hands codes out in upload order', async () => {
    const codes = ['zeta', 'ALPHA', 'm1', 'Alpha', 'b-2', '0000'];
    const listId = await createUniqueList(t, 'ordered', codes);
    const campaignId = await createCampaign(t, [listId]);
    const handed: string[] = [];
    for (let i = 0; i < codes.length; i++) handed.push((await claim(t, { campaignId, userId: `ordered-${i}` })).data.claimCoupon.code);
    expect(handed).toEqual(codes);
  });

  it('gives 30 simultaneous claims of one user one code: the others get it back as reused', async () => {
    const listId = await createUniqueList(t, 'one user', codesNamed('U', 10));
    const campaignId = await createCampaign(t, [listId]);
    const responses = await Promise.all(Array.from({ length: 30 }, () => claim(t, { campaignId, userId: 'same-user' }, clientKey)));
    expect(responses.every((r) => r.errors === undefined)).toBe(true);
    const assignments = responses.map((r) => r.data.claimCoupon);
    expect(new Set(assignments.map((a) => a.id)).size).toBe(1);
    expect(new Set(assignments.map((a) => a.code))).toEqual(new Set(['U-00000']));
    expect(assignments.filter((a) => !a.reused)).toHaveLength(1);
    expect((await listFigures(t, listId)).assignedCodes).toBe(1);
    const [{ reuses }] = await t.app.dataSource.query('SELECT COUNT(*) AS reuses FROM assignment_reuses WHERE assignment_id = ?', [assignments[0].id]);
    expect(Number(reuses)).toBe(29);
  });

  it('holds a FIXED limit exactly under concurrency', async () => {
    const listId = await createList(t, { name: 'fixed', kind: 'FIXED', fixedCode: 'SPIN10', fixedLimit: 25 });
    const campaignId = await createCampaign(t, [listId]);
    const responses = await Promise.all(Array.from({ length: 60 }, (_, i) => claim(t, { campaignId, userId: `fixed-${i}` }, clientKey)));
    const granted = responses.filter((r) => r.data?.claimCoupon);
    expect(granted).toHaveLength(25);
    expect(granted.every((r) => r.data.claimCoupon.code === 'SPIN10' && r.data.claimCoupon.reused === false)).toBe(true);
    expect(responses.filter((r) => r.errors).map(errorCode).every((code) => code === 'LIST_EXHAUSTED' || code === 'CAMPAIGN_FINISHED')).toBe(true);
    expect(await listFigures(t, listId)).toMatchObject({ totalCodes: 25, assignedCodes: 25, availableCodes: 0 });
    const [{ n: rows, nullSeqs }] = await t.app.dataSource.query(
      'SELECT COUNT(*) AS n, SUM(code_seq IS NULL) AS nullSeqs FROM coupon_assignments WHERE list_id = ?',
      [listId],
    );
    expect([Number(rows), Number(nullSeqs)]).toEqual([25, 25]);
  });

  it('applies the claim window: the same assignment within it, a new code after it', async () => {
    const listId = await createUniqueList(t, 'window', codesNamed('W', 5));
    const campaignId = await createCampaign(t, [listId]);
    const first = (await claim(t, { campaignId, userId: 'w-user', externalId: 'first' })).data.claimCoupon;
    const again = (await claim(t, { campaignId, userId: 'w-user', externalId: 'second' })).data.claimCoupon;
    expect(again).toEqual({ ...first, reused: true });
    expect((await listFigures(t, listId)).assignedCodes).toBe(1);
    // Another user is not affected; another campaign over the same list is not either.
    expect((await claim(t, { campaignId, userId: 'w-other' })).data.claimCoupon.reused).toBe(false);
    const otherCampaign = await createCampaign(t, [listId]);
    expect((await claim(t, { campaignId: otherCampaign, userId: 'w-user' })).data.claimCoupon.reused).toBe(false);

    await sleep(WINDOW_SECONDS * 1000 + 100);
    const after = (await claim(t, { campaignId, userId: 'w-user' })).data.claimCoupon;
    expect(after.reused).toBe(false);
    expect(after.id).not.toBe(first.id);
    expect(after.code).not.toBe(first.code);
    // The window now follows the newest code.
    expect((await claim(t, { campaignId, userId: 'w-user' })).data.claimCoupon).toMatchObject({ id: after.id, reused: true });
  });

  it('refuses an expired list at claim time and finishes the campaign with LIST_EXPIRED', async () => {
    const listId = await createUniqueList(t, 'expiring', codesNamed('E', 5), { expiresAt: new Date(Date.now() + 3_600_000).toISOString() });
    const campaignId = await createCampaign(t, [listId]);
    const granted = (await claim(t, { campaignId, userId: 'e-1' })).data.claimCoupon;
    expect(new Date(granted.expiresAt).getTime()).toBeGreaterThan(Date.now());
    const past = new Date(Date.now() - 1000).toISOString();
    await t.gql(`mutation($id: ID!, $input: UpdateCouponListInput!) { updateCouponList(id: $id, input: $input) { id } }`, { id: listId, input: { expiresAt: past } });
    expect(errorCode(await claim(t, { campaignId, userId: 'e-2' }))).toBe('LIST_EXPIRED');
    expect(await campaignState(t, campaignId)).toEqual({ status: 'FINISHED', finishReason: 'LIST_EXPIRED' });
    expect(errorCode(await claim(t, { campaignId, userId: 'e-3' }))).toBe('CAMPAIGN_FINISHED');
    // The user inside the window still gets the earlier code back.
    expect((await claim(t, { campaignId, userId: 'e-1' })).data.claimCoupon).toMatchObject({ id: granted.id, reused: true });
  });

  it('finishes a still ACTIVE campaign none of whose lists can serve at its next claim, with LIST_EXHAUSTED', async () => {
    const listId = await createList(t, { name: 'used elsewhere', kind: 'FIXED', fixedCode: 'GONE', fixedLimit: 2 });
    const campaignId = await createCampaign(t, [listId]);
    // Its stock went by another way than this campaign's claims (e.g. a campaign whose row was busy).
    await t.app.dataSource.query('UPDATE coupon_lists SET assigned_codes = 2 WHERE id = ?', [listId]);
    expect((await campaignState(t, campaignId)).status).toBe('ACTIVE');
    const refused = await claim(t, { campaignId, userId: 'g-1' });
    expect(errorCode(refused)).toBe('LIST_EXHAUSTED');
    expect(await campaignState(t, campaignId)).toEqual({ status: 'FINISHED', finishReason: 'LIST_EXHAUSTED' });
    expect(errorCode(await claim(t, { campaignId, userId: 'g-2' }))).toBe('CAMPAIGN_FINISHED');
  });

  it('serves Spin to Win slices by listId and spills default claims over to the next list', async () => {
    const small = await createUniqueList(t, 'slice small', ['S1', 'S2']);
    const fixed = await createList(t, { name: 'slice fixed', kind: 'FIXED', fixedCode: 'FREESHIP', fixedLimit: 3 });
    const foreign = await createUniqueList(t, 'not in campaign', ['F1']);
    const campaignId = await createCampaign(t, [small, fixed], 'SPIN_TO_WIN');

    expect((await claim(t, { campaignId, userId: 's-1', listId: fixed })).data.claimCoupon).toMatchObject({ code: 'FREESHIP', listId: fixed });
    const defaults = await Promise.all([1, 2, 3].map((i) => claim(t, { campaignId, userId: `s-d${i}` })));
    expect(defaults.map((r) => r.data.claimCoupon.code).sort()).toEqual(['FREESHIP', 'S1', 'S2']);
    expect(await listFigures(t, small)).toMatchObject({ assignedCodes: 2, availableCodes: 0 });

    // The small slice is exhausted, the campaign still has a code on the other slice.
    const exhausted = await claim(t, { campaignId, userId: 's-2', listId: small });
    expect(errorCode(exhausted)).toBe('LIST_EXHAUSTED');
    expect(exhausted.errors![0].extensions!.listId).toBe(small);
    expect((await campaignState(t, campaignId)).status).toBe('ACTIVE');
    const notOurs = await claim(t, { campaignId, userId: 's-3', listId: foreign });
    expect(errorCode(notOurs)).toBe('BAD_USER_INPUT');
    expect(notOurs.errors![0].extensions!.field).toBe('input.listId');

    expect((await claim(t, { campaignId, userId: 's-4' })).data.claimCoupon).toMatchObject({ code: 'FREESHIP', listId: fixed });
    expect(await campaignState(t, campaignId)).toEqual({ status: 'FINISHED', finishReason: 'LIST_EXHAUSTED' });
    expect(errorCode(await claim(t, { campaignId, userId: 's-5', listId: fixed }))).toBe('CAMPAIGN_FINISHED');
  });

  it('finishes every campaign sharing a list that a claim exhausts', async () => {
    const shared = await createUniqueList(t, 'shared', ['X1', 'X2']);
    const first = await createCampaign(t, [shared]);
    const second = await createCampaign(t, [shared]);
    await claim(t, { campaignId: first, userId: 'x-1' });
    expect((await campaignState(t, second)).status).toBe('ACTIVE');
    await claim(t, { campaignId: first, userId: 'x-2' });
    expect(await campaignState(t, first)).toEqual({ status: 'FINISHED', finishReason: 'LIST_EXHAUSTED' });
    expect(await campaignState(t, second)).toEqual({ status: 'FINISHED', finishReason: 'LIST_EXHAUSTED' });
  });

  it('keeps a campaign sharing the exhausted list ACTIVE while another of its lists can serve, even one locked elsewhere', async () => {
    const shared = await createUniqueList(t, 'shared 2', ['Y1']);
    const other = await createUniqueList(t, 'other of second', ['Z1', 'Z2']);
    const first = await createCampaign(t, [shared]);
    const second = await createCampaign(t, [shared, other]);
    // Another transaction (an upload, an edit) holds the second campaign's other list.
    const holder = t.app.dataSource.createQueryRunner();
    await holder.connect();
    await holder.startTransaction();
    try {
      await holder.query('SELECT id FROM coupon_lists WHERE id = ? FOR UPDATE', [other]);
      expect((await claim(t, { campaignId: first, userId: 'y-1' })).data.claimCoupon.code).toBe('Y1');
      expect(await campaignState(t, first)).toEqual({ status: 'FINISHED', finishReason: 'LIST_EXHAUSTED' });
      expect((await campaignState(t, second)).status).toBe('ACTIVE');
    } finally {
      await holder.rollbackTransaction();
      await holder.release();
    }
    expect((await claim(t, { campaignId: second, userId: 'y-2' })).data.claimCoupon.code).toBe('Z1');
  });

  it('answers every refusal with its code', async () => {
    const listId = await createUniqueList(t, 'errors', codesNamed('R', 5));
    const campaignId = await createCampaign(t, [listId]);
    const viewer = await t.createKey('VIEWER');
    const cases: Array<[Record<string, unknown>, string | null, string, string?]> = [
      [{ campaignId, userId: 'v' }, viewer, 'FORBIDDEN'],
      [{ campaignId, userId: 'v' }, null, 'UNAUTHENTICATED'],
      [{ campaignId: '987654', userId: 'u' }, clientKey, 'NOT_FOUND'],
      [{ campaignId: 'abc', userId: 'u' }, clientKey, 'BAD_USER_INPUT', 'input.campaignId'],
      [{ campaignId, userId: '' }, clientKey, 'BAD_USER_INPUT', 'input.userId'],
      [{ campaignId, userId: '   ' }, clientKey, 'BAD_USER_INPUT', 'input.userId'],
      [{ campaignId, userId: 'u'.repeat(192) }, clientKey, 'BAD_USER_INPUT', 'input.userId'],
      [{ campaignId, userId: 'u', externalId: '' }, clientKey, 'BAD_USER_INPUT', 'input.externalId'],
      [{ campaignId, userId: 'u', externalId: 'e'.repeat(192) }, clientKey, 'BAD_USER_INPUT', 'input.externalId'],
      [{ campaignId, userId: 'u', listId: 'x1' }, clientKey, 'BAD_USER_INPUT', 'input.listId'],
      [{ campaignId, userId: 'u', listId: '999999' }, clientKey, 'BAD_USER_INPUT', 'input.listId'],
    ];
    for (const [input, key, code, field] of cases) {
      const response = await t.gql(`mutation($input: ClaimCouponInput!) { claimCoupon(input: $input) { id } }`, { input }, key);
      expect([JSON.stringify(input), errorCode(response)]).toEqual([JSON.stringify(input), code]);
      if (field) expect(response.errors![0].extensions!.field).toBe(field);
    }
    // The longest ids allowed, counted in characters (not bytes), are accepted.
    const longest = (await claim(t, { campaignId, userId: '€'.repeat(191), externalId: '😀'.repeat(191) }, clientKey)).data.claimCoupon;
    expect(longest.userId).toBe('€'.repeat(191));
    expect(longest.externalId).toBe('😀'.repeat(191));
    expect(await listFigures(t, listId)).toMatchObject({ assignedCodes: 1 });
  });

  it('publishes events after commit with the committed figures', async () => {
    const listId = await createUniqueList(t, 'events', ['EV1', 'EV2', 'EV3']);
    const campaignId = await createCampaign(t, [listId]);
    const recorder = recordEvents(t.app, [CouponsAssigned, CouponAssignmentsReused, CouponListStockChanged, CampaignStatusChanged]);
    try {
      const responses = await Promise.all([
        claim(t, { campaignId, userId: 'ev-1', externalId: 'x1' }),
        claim(t, { campaignId, userId: 'ev-2' }),
        claim(t, { campaignId, userId: 'ev-1' }),
      ]);
      const byUser = responses.map((r) => r.data.claimCoupon);
      await sleep(50);
      const assigned = recorder.of(CouponsAssigned).flatMap((event) => event.assignments);
      expect(assigned.map((a) => a.userId).sort()).toEqual(['ev-1', 'ev-2']);
      const first = assigned.find((a) => a.userId === 'ev-1')!;
      expect(first).toMatchObject({ id: byUser[0].id, listId, campaignId, externalId: 'x1', code: byUser[0].code, expiresAt: null });
      expect(first.assignedAt).toBeInstanceOf(Date);
      expect(recorder.of(CouponAssignmentsReused).flatMap((event) => event.reuses)).toEqual([
        { assignmentId: byUser[0].id, campaignId, userId: 'ev-1', at: expect.any(Date) },
      ]);
      const stock = recorder.of(CouponListStockChanged).map((event) => event.list);
      expect(stock.length).toBeGreaterThanOrEqual(1);
      expect(stock[stock.length - 1]).toMatchObject({ id: listId, name: 'events', totalCodes: 3, assignedCodes: 2, availableCodes: 1, status: 'ACTIVE' });
      expect(recorder.of(CampaignStatusChanged)).toHaveLength(0);

      await claim(t, { campaignId, userId: 'ev-3' });
      await sleep(50);
      const last = recorder.of(CouponListStockChanged).map((event) => event.list).pop();
      expect(last).toMatchObject({ assignedCodes: 3, availableCodes: 0, status: 'EXHAUSTED' });
      expect(recorder.of(CampaignStatusChanged).map((e) => [e.campaignId, e.status, e.finishReason])).toEqual([[campaignId, 'FINISHED', 'LIST_EXHAUSTED']]);
    } finally {
      recorder.stop();
    }
  });

  it('publishes nothing for a batch that rolls back, and a failing claim does not fail the others of its batch', async () => {
    const listId = await createUniqueList(t, 'rollback', codesNamed('RB', 10));
    const campaignId = await createCampaign(t, [listId]);
    // A claim the database refuses to write, for a reason outside the claim engine.
    await t.app.dataSource.query(
      `CREATE TRIGGER refuse_poisoned_user BEFORE INSERT ON coupon_assignments FOR EACH ROW
         BEGIN IF NEW.user_id = 'poisoned' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by test trigger'; END IF; END`,
    );
    const recorder = recordEvents(t.app, [CouponsAssigned, CouponListStockChanged, CampaignStatusChanged]);
    try {
      const alone = await claim(t, { campaignId, userId: 'poisoned' });
      expect(errorCode(alone)).toBe('INTERNAL_SERVER_ERROR');
      expect(alone.errors![0].message).not.toMatch(/trigger|SQL|INSERT/i);
      await sleep(50);
      expect(recorder.events).toHaveLength(0);
      expect(await listFigures(t, listId)).toMatchObject({ assignedCodes: 0 });

      // Straight into the claim engine, so that all of them share one batch.
      const service = t.app.get(ClaimService);
      const results = await Promise.allSettled(
        ['ok-1', 'poisoned', 'ok-2', 'ok-3'].map((userId) => service.claim({ campaignId, userId })),
      );
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
      await sleep(50);
      const assigned = recorder.of(CouponsAssigned).flatMap((event) => event.assignments);
      expect(assigned.map((a) => a.userId).sort()).toEqual(['ok-1', 'ok-2', 'ok-3']);
      const figures = await listFigures(t, listId);
      expect(figures.assignedCodes).toBe(3);
      const stock = recorder.of(CouponListStockChanged).map((e) => e.list.assignedCodes);
      expect(Math.max(...stock)).toBe(3);
      expect(stock[stock.length - 1]).toBe(3);
      const [{ n: rows }] = await t.app.dataSource.query('SELECT COUNT(*) AS n FROM coupon_assignments WHERE list_id = ?', [listId]);
      expect(Number(rows)).toBe(3);
    } finally {
      recorder.stop();
      await t.app.dataSource.query('DROP TRIGGER IF EXISTS refuse_poisoned_user');
    }
  });
});
