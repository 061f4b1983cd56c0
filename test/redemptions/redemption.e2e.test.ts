import { ApiKeyRole } from '../../src/modules/auth/api-key-role';
import { CodeLookupService } from '../../src/modules/redemptions/code-lookup.service';
import { RedemptionService } from '../../src/modules/redemptions/redemption.service';
import { batchCandidatesSql } from '../../src/modules/redemptions/redemption-batch';
import { WebhookDeliveriesWritten } from '../../src/modules/webhooks/webhook-outbox';
import { download, exportList } from '../exports/fixtures';
import { parseCsvStrict } from '../exports/rfc4180';
import { createEndpoint } from '../webhooks/webhook-fixtures';
import { errorCode } from '../helpers/graphql-client';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { claim, codesNamed, createCampaign, createList, createUniqueList, recordEvents } from '../helpers/fixtures';

const REDEMPTION_FIELDS = 'id assignmentId code userId orderId redeemedAt undoneAt';
const REDEEM = `mutation($input: RedeemCouponInput!) { redeemCoupon(input: $input) { ${REDEMPTION_FIELDS} } }`;
const UNDO = `mutation($id: ID!) { undoRedemption(id: $id) { ${REDEMPTION_FIELDS} } }`;
const LOOKUP = `query($code: String!, $listId: ID) { couponCode(code: $code, listId: $listId) {
  code listId listName state assignment { id userId code } redemption { id orderId redeemedAt } } }`;

describe('code lookup and redemption', () => {
  let t: TestApp;
  let clientKey: string;
  let viewerKey: string;

  beforeAll(async () => {
    t = await startTestApp();
    clientKey = await t.createKey('CLIENT');
    viewerKey = await t.createKey('VIEWER');
  });
  afterAll(() => t.destroy());

  /** A UNIQUE list with `n` codes in a campaign, and the code claimed by each of `users`. */
  async function handOut(name: string, users: string[], extra: Record<string, unknown> = {}) {
    const listId = await createUniqueList(t, name, codesNamed(name, users.length + 2), extra);
    const campaignId = await createCampaign(t, [listId]);
    const codes: string[] = [];
    for (const userId of users) {
      const response = await claim(t, { campaignId, userId });
      expect(response.errors).toBeUndefined();
      codes.push(response.data.claimCoupon.code);
    }
    return { listId, campaignId, codes };
  }

  const redeemedCodes = async (listId: string) =>
    (await t.gql(`query($id: ID!) { couponList(id: $id) { redeemedCodes assignedCodes } }`, { id: listId })).data.couponList;

  it('50 simultaneous redemptions of one code: exactly one succeeds, the rest are ALREADY_REDEEMED with its time', async () => {
    const { listId, codes } = await handOut('RACE', ['racer']);
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) => t.gql(REDEEM, { input: { code: codes[0], userId: 'racer', orderId: `order-${i}` } }, clientKey)),
    );
    const winners = responses.filter((response) => response.data?.redeemCoupon);
    expect(winners).toHaveLength(1);
    const won = winners[0].data.redeemCoupon;
    const losers = responses.filter((response) => !response.data?.redeemCoupon);
    expect(losers.map(errorCode)).toEqual(Array(49).fill('ALREADY_REDEEMED'));
    for (const loser of losers) expect(loser.errors![0].message).toContain(won.redeemedAt);
    expect(await redeemedCodes(listId)).toEqual({ redeemedCodes: 1, assignedCodes: 1 });
    const [{ live }] = await t.app.dataSource.query('SELECT COUNT(*) AS live FROM coupon_redemptions WHERE list_id = ? AND live = 1', [listId]);
    expect(Number(live)).toBe(1);
  });

  it('a code not assigned to that user, or no code at all, is NOT_FOUND without a hint', async () => {
    const { codes } = await handOut('WRONG', ['owner']);
    const wrongUser = await t.gql(REDEEM, { input: { code: codes[0], userId: 'someone-else' } }, clientKey);
    const unknown = await t.gql(REDEEM, { input: { code: 'NO-SUCH-CODE', userId: 'owner' } }, clientKey);
    expect(errorCode(wrongUser)).toBe('NOT_FOUND');
    expect(errorCode(unknown)).toBe('NOT_FOUND');
    // Same words either way: nothing tells whether the code exists.
    expect(wrongUser.errors![0].message.replace(codes[0], 'X')).toBe(unknown.errors![0].message.replace('NO-SUCH-CODE', 'X'));
    // A code differing only in case is another code.
    expect(errorCode(await t.gql(REDEEM, { input: { code: codes[0].toLowerCase(), userId: 'owner' } }, clientKey))).toBe('NOT_FOUND');
  });

  it('a code of an expired list is LIST_EXPIRED', async () => {
    const { listId, codes } = await handOut('EXPIRING', ['late'], { expiresAt: '2099-01-01T00:00:00.000Z' });
    const past = new Date(Date.now() - 1000).toISOString();
    const updated = await t.gql(`mutation($id: ID!, $at: DateTime) { updateCouponList(id: $id, input: { expiresAt: $at }) { status } }`, { id: listId, at: past });
    expect(updated.data.updateCouponList.status).toBe('EXPIRED');
    const response = await t.gql(REDEEM, { input: { code: codes[0], userId: 'late' } }, clientKey);
    expect(errorCode(response)).toBe('LIST_EXPIRED');
    expect((await redeemedCodes(listId)).redeemedCodes).toBe(0);
  });

  it('undo then redeem again; the history shows REDEEMED, REDEMPTION_UNDONE, REDEEMED; the counter follows', async () => {
    const { listId, codes } = await handOut('UNDO', ['shopper']);
    const first = (await t.gql(REDEEM, { input: { code: codes[0], userId: 'shopper', orderId: 'A-1' } }, clientKey)).data.redeemCoupon;
    expect(first).toMatchObject({ code: codes[0], userId: 'shopper', orderId: 'A-1', undoneAt: null });
    expect((await redeemedCodes(listId)).redeemedCodes).toBe(1);

    const undone = (await t.gql(UNDO, { id: first.id }, clientKey)).data.undoRedemption;
    expect(undone.id).toBe(first.id);
    expect(undone.undoneAt).not.toBeNull();
    expect((await redeemedCodes(listId)).redeemedCodes).toBe(0);
    // Undoing twice changes nothing.
    expect((await t.gql(UNDO, { id: first.id }, clientKey)).data.undoRedemption.undoneAt).toBe(undone.undoneAt);
    expect((await redeemedCodes(listId)).redeemedCodes).toBe(0);
    expect(errorCode(await t.gql(UNDO, { id: '999999' }, clientKey))).toBe('NOT_FOUND');

    const again = (await t.gql(REDEEM, { input: { code: codes[0], userId: 'shopper', orderId: 'A-2' } }, clientKey)).data.redeemCoupon;
    expect(again.id).not.toBe(first.id);
    expect((await redeemedCodes(listId)).redeemedCodes).toBe(1);
    // The code did not return to the pool: the list's figures are unchanged.
    expect((await redeemedCodes(listId)).assignedCodes).toBe(1);

    const history = await t.gql(
      `query { userCoupons(userId: "shopper") { code redemption { id orderId } history { kind orderId redemptionId } } }`,
      {},
      viewerKey,
    );
    const [coupon] = history.data.userCoupons;
    expect(coupon.redemption).toEqual({ id: again.id, orderId: 'A-2' });
    expect(coupon.history.filter((entry: { kind: string }) => entry.kind.startsWith('REDE'))).toEqual([
      { kind: 'REDEEMED', orderId: 'A-1', redemptionId: first.id },
      { kind: 'REDEMPTION_UNDONE', orderId: 'A-1', redemptionId: first.id },
      { kind: 'REDEEMED', orderId: 'A-2', redemptionId: again.id },
    ]);
  });

  it('the same orderId again is idempotent, also when sent simultaneously; another orderId is ALREADY_REDEEMED', async () => {
    const { listId, codes } = await handOut('ORDER', ['buyer', 'twin']);
    const first = (await t.gql(REDEEM, { input: { code: codes[0], userId: 'buyer', orderId: 'ORD-77' } }, clientKey)).data.redeemCoupon;
    const repeat = (await t.gql(REDEEM, { input: { code: codes[0], userId: 'buyer', orderId: 'ORD-77' } }, clientKey)).data.redeemCoupon;
    expect(repeat).toEqual(first);
    const other = await t.gql(REDEEM, { input: { code: codes[0], userId: 'buyer', orderId: 'ORD-78' } }, clientKey);
    expect(errorCode(other)).toBe('ALREADY_REDEEMED');
    expect(other.errors![0].message).toContain(first.redeemedAt);
    const noOrder = await t.gql(REDEEM, { input: { code: codes[0], userId: 'buyer' } }, clientKey);
    expect(errorCode(noOrder)).toBe('ALREADY_REDEEMED');

    const together = await Promise.all(
      Array.from({ length: 20 }, () => t.gql(REDEEM, { input: { code: codes[1], userId: 'twin', orderId: 'ORD-TWIN' } }, clientKey)),
    );
    expect(together.map((response) => response.errors)).toEqual(Array(20).fill(undefined));
    expect(new Set(together.map((response) => response.data.redeemCoupon.id)).size).toBe(1);
    expect((await redeemedCodes(listId)).redeemedCodes).toBe(2);
  });

  it('a FIXED code is redeemed once by each user it was assigned to', async () => {
    const listId = await createList(t, { name: 'Fixed', kind: 'FIXED', fixedCode: 'WELCOME10', fixedLimit: 10 });
    const campaignId = await createCampaign(t, [listId]);
    for (const userId of ['f1', 'f2']) expect((await claim(t, { campaignId, userId })).errors).toBeUndefined();
    expect((await t.gql(REDEEM, { input: { code: 'WELCOME10', userId: 'f1' } }, clientKey)).errors).toBeUndefined();
    expect(errorCode(await t.gql(REDEEM, { input: { code: 'WELCOME10', userId: 'f1' } }, clientKey))).toBe('ALREADY_REDEEMED');
    expect((await t.gql(REDEEM, { input: { code: 'WELCOME10', userId: 'f2', listId } }, clientKey)).errors).toBeUndefined();
    expect(errorCode(await t.gql(REDEEM, { input: { code: 'WELCOME10', userId: 'f3' } }, clientKey))).toBe('NOT_FOUND');
    expect((await redeemedCodes(listId)).redeemedCodes).toBe(2);
  });

  it('redemptions arriving together (batched) each succeed once, with their own id, message and the exact counter; refusals among them keep their codes', async () => {
    const users = Array.from({ length: 30 }, (_, i) => `many-${i}`);
    const { listId, codes, campaignId } = await handOut('MANY', users);
    const service = t.app.get(RedemptionService);
    // Messages are written while an enabled endpoint subscribes to coupon.redeemed.
    const endpoint = await createEndpoint(t, { url: 'http://127.0.0.1:9/redeemed', events: ['COUPON_REDEEMED'] });
    const scopedElsewhere = { keyId: 'k2', role: ApiKeyRole.CLIENT, campaignIds: ['999999'] };
    const shop = { keyId: 'k3', role: ApiKeyRole.CLIENT, campaignIds: [campaignId] };
    const recorder = recordEvents(t.app, [WebhookDeliveriesWritten]);
    // Started in one turn of the event loop: they share batches. Code 0 twice with one orderId, code 1 twice with two.
    // Code 5 with a trailing space: the column compares it equal (PAD SPACE), in a batch as alone.
    const results = await Promise.allSettled([
      ...users.map((userId, i) => service.redeem(shop, { code: i === 5 ? `${codes[i]} ` : codes[i], userId, orderId: `many-order-${i}` })),
      service.redeem(shop, { code: codes[0], userId: users[0], orderId: 'many-order-0' }),
      service.redeem(shop, { code: codes[1], userId: users[1], orderId: 'another-order' }),
      service.redeem(shop, { code: codes[2], userId: 'not-the-holder' }),
      service.redeem(scopedElsewhere, { code: codes[3], userId: users[3] }),
    ]);
    const value = (i: number) => (results[i] as PromiseFulfilledResult<{ id: string; code: string; userId: string; orderId: string }>).value;
    for (let i = 0; i < users.length; i++) expect(value(i)).toMatchObject({ code: codes[i], userId: users[i], orderId: `many-order-${i}` });
    expect(new Set(users.map((_, i) => value(i).id)).size).toBe(users.length);
    expect(value(users.length).id).toBe(value(0).id);
    const reasons = results.slice(users.length + 1).map((result) => (result as PromiseRejectedResult).reason?.code);
    expect(reasons).toEqual(['ALREADY_REDEEMED', 'NOT_FOUND', 'FORBIDDEN']);
    expect(await redeemedCodes(listId)).toEqual({ redeemedCodes: users.length, assignedCodes: users.length });
    const stored: Array<{ id: string; code: string }> = await t.app.dataSource.query('SELECT id, code FROM coupon_redemptions WHERE list_id = ? AND live = 1', [listId]);
    expect(new Map(stored.map((row) => [String(row.id), row.code]))).toEqual(new Map(users.map((_, i) => [value(i).id, codes[i]])));
    const messages: Array<{ redemption_id: string }> = await t.app.dataSource.query(
      `SELECT JSON_UNQUOTE(JSON_EXTRACT(payload, '$.redemptionId')) AS redemption_id FROM webhook_messages WHERE event_type = 'COUPON_REDEEMED' AND JSON_UNQUOTE(JSON_EXTRACT(payload, '$.listId')) = ?`,
      [listId],
    );
    expect(messages.map((row) => row.redemption_id).sort()).toEqual(users.map((_, i) => value(i).id).sort());
    // Written with their deliveries to the endpoint read with the candidates: nothing left for the dispatcher.
    recorder.stop();
    expect(recorder.of(WebhookDeliveriesWritten).flatMap((event) => event.endpointIds)).toContain(String(endpoint.id));
    const deliveries: Array<{ dispatched: number; deliveries: number }> = await t.app.dataSource.query(
      `SELECT m.dispatched, (SELECT COUNT(*) FROM webhook_deliveries d WHERE d.message_row_id = m.id AND d.endpoint_id = ?) AS deliveries
         FROM webhook_messages m WHERE m.event_type = 'COUPON_REDEEMED' AND JSON_UNQUOTE(JSON_EXTRACT(m.payload, '$.listId')) = ?`,
      [endpoint.id, listId],
    );
    expect(deliveries.map((row) => ({ dispatched: Number(row.dispatched), deliveries: Number(row.deliveries) }))).toEqual(users.map(() => ({ dispatched: 1, deliveries: 1 })));

    // With no endpoint subscribed, a batch writes no message nobody would get.
    expect((await t.gql(`mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }`, { id: endpoint.id })).data.deleteWebhookEndpoint).toBe(true);
    const quiet = await handOut('QUIET', ['quiet-1', 'quiet-2']);
    const unheard = await Promise.all(quiet.codes.map((code, i) => service.redeem({ ...shop, campaignIds: [quiet.campaignId] }, { code, userId: `quiet-${i + 1}` })));
    expect(unheard.map((redemption) => redemption.code)).toEqual(quiet.codes);
    const [{ n }] = await t.app.dataSource.query(
      `SELECT COUNT(*) AS n FROM webhook_messages WHERE event_type = 'COUPON_REDEEMED' AND JSON_UNQUOTE(JSON_EXTRACT(payload, '$.listId')) = ?`,
      [quiet.listId],
    );
    expect(Number(n)).toBe(0);

    // A batch reads its users' assignments of its codes from the user index, one range per user.
    const plan: Array<{ table: string; type: string; key: string | null }> = await t.app.dataSource.query(`EXPLAIN ${batchCandidatesSql(3, 3)}`, [...users.slice(0, 3), ...codes.slice(0, 3)]);
    expect(plan.find((row) => row.table === 'a')).toMatchObject({ type: 'range', key: 'idx_coupon_assignments_user' });
  });

  it('a CLIENT key scoped to campaigns redeems only there; VIEWER keys may not redeem', async () => {
    const { codes, campaignId } = await handOut('SCOPED', ['scoped-user']);
    const service = t.app.get(RedemptionService);
    const input = { code: codes[0], userId: 'scoped-user' };
    await expect(service.redeem({ keyId: 'k1', role: ApiKeyRole.CLIENT, campaignIds: ['999999'] }, input)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    const allowed = await service.redeem({ keyId: 'k1', role: ApiKeyRole.CLIENT, campaignIds: [campaignId] }, input);
    await expect(service.undo({ keyId: 'k1', role: ApiKeyRole.CLIENT, campaignIds: ['999999'] }, allowed.id)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(errorCode(await t.gql(REDEEM, { input }, viewerKey))).toBe('FORBIDDEN');
  });

  it('couponCode shows state, latest assignment and live redemption in every list holding the code, from an index', async () => {
    const shared = 'SHARED-CODE-1';
    const first = await createUniqueList(t, 'Lookup A', [shared, 'LOOKUP-A2']);
    const second = await createUniqueList(t, 'Lookup B', ['LOOKUP-B1', shared]);
    const campaignId = await createCampaign(t, [first]);
    await claim(t, { campaignId, userId: 'looker' });

    let infos = (await t.gql(LOOKUP, { code: shared }, viewerKey)).data.couponCode;
    expect(infos).toEqual([
      { code: shared, listId: first, listName: 'Lookup A', state: 'ASSIGNED', assignment: expect.objectContaining({ userId: 'looker', code: shared }), redemption: null },
      { code: shared, listId: second, listName: 'Lookup B', state: 'AVAILABLE', assignment: null, redemption: null },
    ]);
    const redemption = (await t.gql(REDEEM, { input: { code: shared, userId: 'looker', listId: first, orderId: 'L-1' } }, clientKey)).data.redeemCoupon;
    infos = (await t.gql(LOOKUP, { code: shared, listId: first }, viewerKey)).data.couponCode;
    expect(infos).toHaveLength(1);
    expect(infos[0]).toMatchObject({ state: 'REDEEMED', redemption: { id: redemption.id, orderId: 'L-1' } });
    expect((await t.gql(LOOKUP, { code: 'shared-code-1' }, viewerKey)).data.couponCode).toEqual([]);

    // A FIXED code: its list, the latest of its assignments, and whether that one is redeemed.
    const fixedList = await createList(t, { name: 'Lookup fixed', kind: 'FIXED', fixedCode: 'LOOKFIX', fixedLimit: 5 });
    const fixedCampaign = await createCampaign(t, [fixedList]);
    await claim(t, { campaignId: fixedCampaign, userId: 'fix-1' });
    await claim(t, { campaignId: fixedCampaign, userId: 'fix-2' });
    await t.gql(REDEEM, { input: { code: 'LOOKFIX', userId: 'fix-2' } }, clientKey);
    expect((await t.gql(LOOKUP, { code: 'LOOKFIX' }, viewerKey)).data.couponCode).toEqual([
      expect.objectContaining({ listId: fixedList, state: 'REDEEMED', assignment: expect.objectContaining({ userId: 'fix-2' }), redemption: expect.objectContaining({ orderId: null }) }),
    ]);
    expect(errorCode(await t.gql(LOOKUP, { code: shared }, clientKey))).toBe('FORBIDDEN');

    // Lookups arriving together share one statement; each gets what it gets alone (its own code,
    // its list when named, trailing spaces compared as the column does).
    const lookups = t.app.get(CodeLookupService);
    const asked: Array<[string, string | null]> = [[shared, null], [shared, first], [shared, second], ['LOOKFIX', null], [`${shared} `, null], ['shared-code-1', null], [shared, null]];
    const alone = [];
    for (const [code, listId] of asked) alone.push(await lookups.lookup(code, listId));
    expect(alone.map((infos) => infos.length)).toEqual([2, 1, 1, 1, 2, 0, 2]);
    expect(await Promise.all(asked.map(([code, listId]) => lookups.lookup(code, listId)))).toEqual(alone);

    // One code or the codes of lookups arriving together: index lookups, never a scan of coupon_codes.
    for (const codes of [[shared], [shared, 'shared-code-1', 'LOOKFIX']]) {
      const plan: Array<{ table: string; type: string; key: string | null }> = await t.app.dataSource.query(
        `EXPLAIN ${CodeLookupService.UNIQUE_CODES_SQL(codes.length)}`,
        codes,
      );
      const codesRow = plan.find((row) => row.table === 'c')!;
      expect(['ref', 'range']).toContain(codesRow.type);
      expect(codesRow.key).toBe('idx_coupon_codes_code');
    }
  });

  it('exports carry redeemed_at and order_id after the first four columns', async () => {
    const { listId, codes } = await handOut('EXPORTED', ['e1', 'e2', 'e3']);
    const r1 = (await t.gql(REDEEM, { input: { code: codes[0], userId: 'e1', orderId: 'X-1' } }, clientKey)).data.redeemCoupon;
    const undone = (await t.gql(REDEEM, { input: { code: codes[1], userId: 'e2', orderId: '=cmd' } }, clientKey)).data.redeemCoupon;
    await t.gql(UNDO, { id: undone.id }, clientKey);
    const r3 = (await t.gql(REDEEM, { input: { code: codes[2], userId: 'e3' } }, clientKey)).data.redeemCoupon;

    const done = await exportList(t, { listId });
    const rows = parseCsvStrict((await download(done.downloadUrl)).body);
    expect(rows[0]).toEqual(['external_id', 'user_id', 'coupon_code', 'assigned_at', 'redeemed_at', 'order_id']);
    const byUser = new Map(rows.slice(1).map((row) => [row[1], row]));
    expect(byUser.get('e1')!.slice(4)).toEqual([r1.redeemedAt, 'X-1']);
    expect(byUser.get('e2')!.slice(4)).toEqual([null, null]);
    expect(byUser.get('e3')!.slice(4)).toEqual([r3.redeemedAt, null]);
  });
});
