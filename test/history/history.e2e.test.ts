import { v7 as uuidv7 } from 'uuid';
import { errorCode } from '../helpers/graphql-client';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { insertAssignments } from '../exports/fixtures';
import { appendCodes, createCampaign, createList } from '../helpers/fixtures';
import { CouponHistoryService, userCouponsPageSql } from '../../src/modules/history/coupon-history.service';

const USER_COUPONS = `query($userId: String!, $first: Int, $after: String) {
  userCoupons(userId: $userId, first: $first, after: $after) {
    id code listId campaignId userId externalId assignedAt expiresAt reused
    history { kind at channel attempt outcome httpStatus error }
  }
}`;
const CLAIM = `mutation($input: ClaimCouponInput!) { claimCoupon(input: $input) { id code assignedAt reused history { kind at } } }`;

describe('user coupon history', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.destroy());

  it('lists a user\'s coupons newest first over all campaigns and lists, page by page', async () => {
    const expiring = await createList(t, { name: 'Expiring', kind: 'FIXED', fixedCode: 'EXP', fixedLimit: 100, expiresAt: '2040-05-01T10:00:00.000Z' });
    const forever = await createList(t, { name: 'Forever', kind: 'FIXED', fixedCode: 'FOREVER', fixedLimit: 100 });
    const campaignA = await createCampaign(t, [expiring]);
    const campaignB = await createCampaign(t, [forever, expiring]);
    const user = 'history,"user"\nü';
    const base = Date.parse('2030-06-01T12:00:00.000Z');
    // Seven assignments; three share one millisecond (the id orders them), others belong to other users.
    const times = [0, 5, 5, 5, 9, 12, 30].map((minutes) => new Date(base + minutes * 60_000));
    const ids = Array.from({ length: 7 }, () => uuidv7()).sort();
    await insertAssignments(
      t.app,
      times.map((assignedAt, i) => ({
        id: ids[i],
        listId: i % 2 ? expiring : forever,
        campaignId: i % 3 ? campaignA : campaignB,
        code: i % 2 ? 'EXP' : 'FOREVER',
        userId: user,
        externalId: i === 0 ? null : `ext-${i}`,
        assignedAt,
      })),
    );
    await insertAssignments(t.app, [
      { listId: forever, campaignId: campaignB, code: 'FOREVER', userId: 'someone else', assignedAt: new Date(base + 7 * 60_000) },
      { listId: forever, campaignId: campaignB, code: 'FOREVER', userId: user.toUpperCase(), assignedAt: new Date(base + 8 * 60_000) },
    ]);
    const newestFirst = ids.map((id, i) => ({ id, at: times[i].toISOString(), i })).sort((a, b) => b.at.localeCompare(a.at) || b.id.localeCompare(a.id));

    const all = await t.gql(USER_COUPONS, { userId: user });
    expect(all.errors).toBeUndefined();
    expect(all.data.userCoupons.map((a: any) => a.id)).toEqual(newestFirst.map((a) => a.id));
    const oldest = all.data.userCoupons[6];
    expect(oldest).toMatchObject({ id: ids[0], code: 'FOREVER', listId: forever, campaignId: campaignB, userId: user, externalId: null, reused: false, expiresAt: null });
    expect(all.data.userCoupons.find((a: any) => a.id === ids[1])).toMatchObject({ listId: expiring, expiresAt: '2040-05-01T10:00:00.000Z', externalId: 'ext-1' });

    // Pages of 2: every assignment once, in the same order, also across the shared millisecond.
    const paged: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 10; page++) {
      const response: any = await t.gql(USER_COUPONS, { userId: user, first: 2, after });
      const items = response.data.userCoupons;
      paged.push(...items.map((a: any) => a.id));
      if (items.length < 2) break;
      after = items[items.length - 1].id;
    }
    expect(paged).toEqual(newestFirst.map((a) => a.id));
    expect((await t.gql(USER_COUPONS, { userId: 'nobody' })).data.userCoupons).toEqual([]);
  });

  it('tells each assignment\'s history: assigned, handed back, delivery attempts, expiry, loaded per page not per assignment', async () => {
    const listId = await createList(t, { name: 'Delivered', kind: 'FIXED', fixedCode: 'DLV', fixedLimit: 100, expiresAt: '2041-01-01T00:00:00.000Z' });
    const campaignId = await createCampaign(t, [listId]);
    const base = Date.parse('2031-02-01T08:00:00.000Z');
    const ids = await insertAssignments(
      t.app,
      Array.from({ length: 4 }, (_, i) => ({ listId, campaignId, code: 'DLV', userId: 'traced', assignedAt: new Date(base + i * 3600_000) })),
    );
    const at = (minutes: number) => new Date(base + minutes * 60_000);
    await t.app.dataSource.query('INSERT INTO assignment_reuses (assignment_id, reused_at) VALUES ?', [[
      [ids[0], at(90)],
      [ids[0], at(30)],
      [ids[2], at(200)],
    ]]);
    await t.app.dataSource.query(
      'INSERT INTO delivery_attempts (assignment_id, channel, attempt, outcome, http_status, error, at) VALUES ?',
      [[
        [ids[0], 'SMS', 1, 'RETRY', 503, 'gateway answered 503', at(1)],
        [ids[0], 'SMS', 2, 'SENT', 200, null, at(3)],
        [ids[0], 'PUSH', 1, 'FAILED', null, 'no push token', at(1)],
      ]],
    );
    const spy = jest.spyOn(t.app.dataSource, 'query');
    const response = await t.gql(USER_COUPONS, { userId: 'traced' });
    const historyQueries = spy.mock.calls.filter(([sql]) => /assignment_reuses|delivery_attempts/.test(String(sql)));
    spy.mockRestore();
    expect(response.errors).toBeUndefined();
    expect(historyQueries).toHaveLength(2);

    const first = response.data.userCoupons.find((a: any) => a.id === ids[0]);
    const none = { channel: null, attempt: null, outcome: null, httpStatus: null, error: null };
    expect(first.history).toEqual([
      { kind: 'ASSIGNED', at: at(0).toISOString(), ...none },
      { kind: 'DELIVERY', at: at(1).toISOString(), channel: 'SMS', attempt: 1, outcome: 'RETRY', httpStatus: 503, error: 'gateway answered 503' },
      { kind: 'DELIVERY', at: at(1).toISOString(), channel: 'PUSH', attempt: 1, outcome: 'FAILED', httpStatus: null, error: 'no push token' },
      { kind: 'DELIVERY', at: at(3).toISOString(), channel: 'SMS', attempt: 2, outcome: 'SENT', httpStatus: 200, error: null },
      { kind: 'REUSED', at: at(30).toISOString(), ...none },
      { kind: 'REUSED', at: at(90).toISOString(), ...none },
      { kind: 'EXPIRES', at: '2041-01-01T00:00:00.000Z', ...none },
    ]);
    const third = response.data.userCoupons.find((a: any) => a.id === ids[2]);
    expect(third.history.map((e: any) => [e.kind, e.at])).toEqual([
      ['ASSIGNED', at(120).toISOString()],
      ['REUSED', at(200).toISOString()],
      ['EXPIRES', '2041-01-01T00:00:00.000Z'],
    ]);
    expect(response.data.userCoupons.find((a: any) => a.id === ids[3]).history.map((e: any) => e.kind)).toEqual(['ASSIGNED', 'EXPIRES']);
  });

  it('shows the claims made through claimCoupon, with the window\'s hand-backs in the history', async () => {
    const listId = await createList(t, { name: 'Claimed', kind: 'UNIQUE' });
    await appendCodes(t.app, listId, ['CLAIM-1', 'CLAIM-2']);
    const campaignId = await createCampaign(t, [listId]);
    const firstClaim = await t.gql(CLAIM, { input: { campaignId, userId: 'claimer' } });
    expect(firstClaim.data.claimCoupon).toMatchObject({ code: 'CLAIM-1', reused: false });
    const again = await t.gql(CLAIM, { input: { campaignId, userId: 'claimer' } });
    expect(again.data.claimCoupon).toMatchObject({ id: firstClaim.data.claimCoupon.id, reused: true });
    expect(again.data.claimCoupon.history.map((e: any) => e.kind)).toEqual(['ASSIGNED', 'REUSED']);

    const history = await t.gql(USER_COUPONS, { userId: 'claimer' });
    expect(history.data.userCoupons).toHaveLength(1);
    expect(history.data.userCoupons[0]).toMatchObject({ id: firstClaim.data.claimCoupon.id, code: 'CLAIM-1', reused: false });
    expect(history.data.userCoupons[0].history.map((e: any) => e.kind)).toEqual(['ASSIGNED', 'REUSED']);
  });

  it('answers each page from the user index as one range, without sorting', async () => {
    // Many lists, so that reading the lists first would look attractive to the optimizer.
    const listIds: string[] = [];
    for (let i = 0; i < 20; i++) listIds.push(await createList(t, { name: `Plan ${i}`, kind: 'FIXED', fixedCode: `PLAN${i}`, fixedLimit: 10 }));
    const campaignId = await createCampaign(t, listIds.slice(0, 1));
    const ids = await insertAssignments(
      t.app,
      listIds.map((listId, i) => ({ listId, campaignId, code: `PLAN${i}`, userId: 'planned', assignedAt: new Date(Date.UTC(2032, 0, 1, i)) })),
    );
    const page = await t.gql(USER_COUPONS, { userId: 'planned', first: 5, after: ids[10] });
    expect(page.data.userCoupons.map((coupon: { id: string }) => coupon.id)).toEqual(ids.slice(5, 10).reverse());
    const [cursor] = await t.app.dataSource.query('SELECT assigned_at FROM coupon_assignments WHERE id = ?', [ids[10]]);
    const plan = await t.app.dataSource.query(`EXPLAIN ${userCouponsPageSql(true)}`, [0, 'planned', cursor.assigned_at, cursor.assigned_at, ids[10], 5]);
    expect(plan[0]).toMatchObject({ table: 'a', key: 'idx_coupon_assignments_user', type: 'range' });
    expect(plan.map((row: any) => String(row.Extra)).join(' ')).not.toMatch(/filesort|temporary/);
    expect(plan[1]).toMatchObject({ table: 'l', key: 'PRIMARY' });
  });

  it('pages asked for together share one statement; each is the page it is alone', async () => {
    const listId = await createList(t, { name: 'Together', kind: 'FIXED', fixedCode: 'TOGETHER', fixedLimit: 100 });
    const campaignId = await createCampaign(t, [listId]);
    const ids = await insertAssignments(
      t.app,
      Array.from({ length: 12 }, (_, i) => ({ listId, campaignId, code: 'TOGETHER', userId: `together-${i % 3}`, assignedAt: new Date(Date.UTC(2033, 0, 1, Math.floor(i / 6))) })),
    );
    const history = t.app.get(CouponHistoryService);
    const asked: Array<[string, number, string | null]> = [['together-0', 3, null], ['together-1', 10, null], ['together-0', 2, ids[6]], ['together-2', 1, null], ['nobody', 5, null], ['together-1', 2, ids[4]]];
    const alone = [];
    for (const [userId, first, after] of asked) alone.push(await history.userCoupons(userId, first, after));
    // Equal times among a user's coupons: the order falls back to the id, in the statement as alone.
    expect(alone.map((page) => page.length)).toEqual([3, 4, expect.any(Number), 1, 0, expect.any(Number)]);
    expect(await Promise.all(asked.map(([userId, first, after]) => history.userCoupons(userId, first, after)))).toEqual(alone);
  });

  it('refuses bad input and keys that may not read it', async () => {
    const empty = await t.gql(USER_COUPONS, { userId: '' });
    expect(errorCode(empty)).toBe('BAD_USER_INPUT');
    expect(empty.errors![0].extensions!.field).toBe('userId');
    expect(errorCode(await t.gql(USER_COUPONS, { userId: '   ' }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await t.gql(USER_COUPONS, { userId: 'x'.repeat(192) }))).toBe('BAD_USER_INPUT');
    expect((await t.gql(USER_COUPONS, { userId: 'u', first: 0 })).errors![0].extensions!.field).toBe('first');
    expect((await t.gql(USER_COUPONS, { userId: 'u', first: 501 })).errors![0].extensions!.field).toBe('first');
    expect((await t.gql(USER_COUPONS, { userId: 'u', after: uuidv7() })).errors![0].extensions!.field).toBe('after');
    expect(errorCode(await t.gql(USER_COUPONS, { userId: 'u' }, await t.createKey('CLIENT')))).toBe('FORBIDDEN');
    expect(errorCode(await t.gql(USER_COUPONS, { userId: 'u' }, null))).toBe('UNAUTHENTICATED');
    expect((await t.gql(USER_COUPONS, { userId: 'u' }, await t.createKey('VIEWER'))).data.userCoupons).toEqual([]);
  });
});
