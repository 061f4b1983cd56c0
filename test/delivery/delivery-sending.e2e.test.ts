import { v7 as uuidv7 } from 'uuid';
import { CouponsAssigned } from '../../src/modules/claims/claim.events';
import { SEND_QUEUE, sendJob } from '../../src/modules/delivery/delivery.jobs';
import { DeliveryServices } from '../../src/modules/delivery/delivery-services';
import { startTestApp, type TestApp } from '../helpers/test-app';
import {
  appendCodes,
  attemptRows,
  claim,
  createCampaign,
  createList,
  createMessage,
  deliveryRows,
  finalDeliveries,
  gqlData,
  sendsSettled,
  setDelivery,
  upsertProfile,
} from './delivery-fixtures';
import { TestGateway } from './gateway';
import { eventually } from '../helpers/fixtures';

const TIMEOUT_MS = 600;
const RETRY_BASE_MS = 40;
const MAX_ATTEMPTS = 3;

describe('sending new assignments by SMS and push', () => {
  let gateway: TestGateway;
  let t: TestApp;
  let smsMessageId: string;
  let pushMessageId: string;

  /** A UNIQUE list with SMS and push on, and a WIDGET campaign over it. */
  async function deliveringCampaign(name: string, codes: number, extra: Record<string, unknown> = {}, channels = { sms: true, push: true }) {
    const listId = await createList(t, { name, kind: 'UNIQUE', ...extra });
    await appendCodes(t.app, listId, Array.from({ length: codes }, (_, i) => `${name}-${i + 1}`));
    const settings = await setDelivery(t, listId, { smsMessageId, pushMessageId, smsEnabled: channels.sms, pushEnabled: channels.push });
    if (settings.errors) throw new Error(JSON.stringify(settings.errors));
    return { listId, campaignId: await createCampaign(t, [listId]) };
  }

  beforeAll(async () => {
    gateway = await new TestGateway().start();
    t = await startTestApp({
      env: {
        SMS_WEBHOOK_URL: `${gateway.url}/sms`,
        PUSH_WEBHOOK_URL: `${gateway.url}/push`,
        DELIVERY_TIMEOUT_MS: String(TIMEOUT_MS),
        DELIVERY_RETRY_BASE_MS: String(RETRY_BASE_MS),
        DELIVERY_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
      },
    });
    smsMessageId = await createMessage(t, 'SMS', 'Your code {couponcode} is valid until {expirydate}.');
    pushMessageId = await createMessage(t, 'PUSH', '{couponcode} ({expirydate})');
  });
  afterEach(() => gateway.reset());
  afterAll(async () => {
    await t.destroy();
    await gateway.stop();
  });

  it('sends a new assignment once on each enabled channel with the message filled in, and sets the profile attributes', async () => {
    const { campaignId } = await deliveringCampaign('Summer', 3, { expiresAt: '2030-06-30T18:45:00.000Z' });
    await upsertProfile(t, { userId: 'alice', phoneNumber: '+4915112345678', pushToken: 'push-token-alice' });
    const assignment = await claim(t, campaignId, 'alice');
    expect(assignment).toMatchObject({ code: 'Summer-1', reused: false });

    const rows = await finalDeliveries(t.app, assignment.id, 2);
    expect(rows.map((row) => [row.channel, row.status, row.attempts, row.error])).toEqual([
      ['SMS', 'SENT', 1, null],
      ['PUSH', 'SENT', 1, null],
    ]);
    const sms = gateway.forKey(`${assignment.id}:SMS`);
    const push = gateway.forKey(`${assignment.id}:PUSH`);
    expect(sms).toHaveLength(1);
    expect(push).toHaveLength(1);
    expect(sms[0]).toMatchObject({
      path: '/sms',
      body: { to: '+4915112345678', body: 'Your code Summer-1 is valid until 2030-06-30 18:45 UTC.', userId: 'alice', assignmentId: assignment.id },
    });
    expect(push[0]).toMatchObject({ path: '/push', body: { to: 'push-token-alice', body: 'Summer-1 (2030-06-30 18:45 UTC)', userId: 'alice', assignmentId: assignment.id } });

    const profile = await gqlData(t, `{ userProfile(userId: "alice") { phoneNumber attributes } }`);
    expect(profile.userProfile).toEqual({ phoneNumber: '+4915112345678', attributes: { couponcode: 'Summer-1', expirydate: '2030-06-30 18:45 UTC' } });

    // A reused claim hands the same assignment back and sends nothing.
    const again = await gqlData(t, `mutation($input: ClaimCouponInput!) { claimCoupon(input: $input) { id reused deliveries { channel status sentAt error } } }`, {
      input: { campaignId, userId: 'alice' },
    });
    expect(again.claimCoupon).toMatchObject({ id: assignment.id, reused: true });
    expect(again.claimCoupon.deliveries).toEqual([
      { channel: 'SMS', status: 'SENT', sentAt: expect.any(String), error: null },
      { channel: 'PUSH', status: 'SENT', sentAt: expect.any(String), error: null },
    ]);
    await sendsSettled(t.app);
    expect(gateway.requests).toHaveLength(2);

    // The deliveries show on the user's coupons.
    const coupons = await gqlData(t, `{ userCoupons(userId: "alice") { id deliveries { channel status sentAt error } } }`);
    expect(coupons.userCoupons).toEqual([{ id: assignment.id, deliveries: again.claimCoupon.deliveries }]);
  });

  it('says "no expiry" for a list without expiry, and sends only on the enabled channel', async () => {
    const listId = await createList(t, { name: 'Forever', kind: 'FIXED', fixedCode: 'FOREVER', fixedLimit: 5 });
    await setDelivery(t, listId, { smsMessageId, smsEnabled: true });
    const campaignId = await createCampaign(t, [listId]);
    await upsertProfile(t, { userId: 'bob', phoneNumber: '+15551234567', pushToken: 'push-bob' });
    const assignment = await claim(t, campaignId, 'bob');
    const rows = await finalDeliveries(t.app, assignment.id, 1);
    expect(rows[0]).toMatchObject({ channel: 'SMS', status: 'SENT' });
    expect(gateway.requests.map((request) => request.body.body)).toEqual(['Your code FOREVER is valid until no expiry.']);
    expect((await gqlData(t, `{ userProfile(userId: "bob") { attributes } }`)).userProfile.attributes).toEqual({ couponcode: 'FOREVER', expirydate: 'no expiry' });
  });

  it('does no delivery work for a list that sends nothing: no profile attributes, no deliveries', async () => {
    const listId = await createList(t, { name: 'Silent', kind: 'FIXED', fixedCode: 'SILENT', fixedLimit: 5 });
    const campaignId = await createCampaign(t, [listId]);
    const silent = await claim(t, campaignId, 'erin');
    await sendsSettled(t.app);
    // A claim that does send, for contrast: deliveries and attributes.
    const { campaignId: sendingCampaign } = await deliveringCampaign('AfterSilent', 3);
    await upsertProfile(t, { userId: 'frank', phoneNumber: '+15550001111', pushToken: 'push-frank' });
    const sent = await claim(t, sendingCampaign, 'frank');
    await finalDeliveries(t.app, sent.id, 2);
    expect(await t.app.dataSource.query('SELECT * FROM deliveries WHERE assignment_id = ?', [silent.id])).toEqual([]);
    expect((await gqlData(t, `{ userProfile(userId: "erin") { attributes } }`)).userProfile).toBeNull();
    expect((await gqlData(t, `{ userProfile(userId: "frank") { attributes } }`)).userProfile.attributes.couponcode).toBe(sent.code);
  });

  it('records a FAILED delivery with a clear reason when the user has no phone number or push token', async () => {
    const { campaignId } = await deliveringCampaign('NoPhone', 3);
    await upsertProfile(t, { userId: 'carol', pushToken: 'push-carol' });
    const carol = await claim(t, campaignId, 'carol');
    const rows = await finalDeliveries(t.app, carol.id, 2);
    expect(rows.find((row) => row.channel === 'PUSH')).toMatchObject({ status: 'SENT' });
    const sms = rows.find((row) => row.channel === 'SMS')!;
    expect(sms.status).toBe('FAILED');
    expect(sms.error).toBe('user "carol" has no phone number in their profile');
    expect(gateway.requests.map((request) => request.key)).toEqual([`${carol.id}:PUSH`]);

    // No profile at all: both channels fail, and the profile is created with the attributes.
    const dave = await claim(t, campaignId, 'dave');
    const daveRows = await finalDeliveries(t.app, dave.id, 2);
    expect(daveRows.map((row) => [row.channel, row.status])).toEqual([['SMS', 'FAILED'], ['PUSH', 'FAILED']]);
    expect(daveRows[1].error).toBe('user "dave" has no push token in their profile');
    expect((await gqlData(t, `{ userProfile(userId: "dave") { phoneNumber attributes } }`)).userProfile).toEqual({
      phoneNumber: null,
      attributes: { couponcode: dave.code, expirydate: 'no expiry' },
    });
  });

  it('retries 5xx answers with exponential backoff and the same Idempotency-Key until the gateway accepts', async () => {
    const { campaignId } = await deliveringCampaign('Flaky', 2, {}, { sms: true, push: false });
    await upsertProfile(t, { userId: 'erin', phoneNumber: '+4930123456' });
    gateway.behave = (_request, seenBefore) => ({ status: seenBefore < 2 ? 503 : 200 });
    const assignment = await claim(t, campaignId, 'erin');
    const [row] = await finalDeliveries(t.app, assignment.id, 1);
    expect(row).toMatchObject({ status: 'SENT', attempts: 3, error: null });

    const requests = gateway.forKey(`${assignment.id}:SMS`);
    expect(requests.map((request) => request.status)).toEqual([503, 503, 200]);
    expect(gateway.requests).toHaveLength(3);
    // Backoff doubles: about 40 ms, then about 80 ms (20 % jitter).
    const firstGap = requests[1].at - requests[0].at;
    const secondGap = requests[2].at - requests[1].at;
    expect(firstGap).toBeGreaterThanOrEqual(RETRY_BASE_MS * 0.8 - 5);
    expect(secondGap).toBeGreaterThanOrEqual(RETRY_BASE_MS * 2 * 0.8 - 5);
    expect((await attemptRows(t.app, assignment.id, 'SMS')).map((a) => [a.attempt, a.outcome, a.http_status])).toEqual([
      [1, 'RETRY', 503],
      [2, 'RETRY', 503],
      [3, 'SENT', 200],
    ]);
  });

  it('gives up after DELIVERY_MAX_ATTEMPTS failures and records why; the claim itself succeeds', async () => {
    const { campaignId } = await deliveringCampaign('Down', 2, {}, { sms: true, push: false });
    await upsertProfile(t, { userId: 'frank', phoneNumber: '+4930999999' });
    gateway.behave = () => ({ status: 500 });
    const assignment = await claim(t, campaignId, 'frank');
    expect(assignment.reused).toBe(false);
    const [row] = await finalDeliveries(t.app, assignment.id, 1);
    expect(row.status).toBe('FAILED');
    expect(row.attempts).toBe(MAX_ATTEMPTS);
    expect(row.error).toMatch(/^gave up after 3 attempts: the gateway answered HTTP 500/);
    expect(gateway.requests).toHaveLength(MAX_ATTEMPTS);
    expect((await attemptRows(t.app, assignment.id, 'SMS')).map((a) => a.outcome)).toEqual(['RETRY', 'RETRY', 'FAILED']);
  });

  it('does not retry a 4xx answer', async () => {
    const { campaignId } = await deliveringCampaign('Rejected', 2, {}, { sms: true, push: false });
    await upsertProfile(t, { userId: 'grace', phoneNumber: '+4930888888' });
    gateway.behave = () => ({ status: 422 });
    const assignment = await claim(t, campaignId, 'grace');
    const [row] = await finalDeliveries(t.app, assignment.id, 1);
    expect(row).toMatchObject({ status: 'FAILED', attempts: 1 });
    expect(row.error).toContain('the gateway answered HTTP 422');
    await sendsSettled(t.app);
    expect(gateway.requests).toHaveLength(1);
  });

  it('retries a gateway that answers too slowly or hangs up, without holding up the claim', async () => {
    const { campaignId } = await deliveringCampaign('Slow', 3, {}, { sms: true, push: true });
    await upsertProfile(t, { userId: 'heidi', phoneNumber: '+4930777777', pushToken: 'push-heidi' });
    // SMS: the first answer comes long after the timeout. PUSH: the first request is cut off.
    gateway.behave = (request, seenBefore) => {
      if (seenBefore > 0) return { status: 200 };
      return request.path === '/sms' ? { status: 200, delayMs: TIMEOUT_MS * 2.5 } : { status: 0 };
    };
    const assignment = await claim(t, campaignId, 'heidi');
    const claimedAt = Date.now();
    const rows = await finalDeliveries(t.app, assignment.id, 2);
    expect(rows.map((row) => [row.channel, row.status, row.attempts])).toEqual([['SMS', 'SENT', 2], ['PUSH', 'SENT', 2]]);

    const sms = gateway.forKey(`${assignment.id}:SMS`);
    await eventually(() => sms[0].status !== null, 5000, 'the slow answer');
    expect(sms.map((request) => request.status)).toEqual([0, 200]);
    // The claim had its answer before the gateway's first (slow) answer was due.
    expect(claimedAt).toBeLessThan(sms[0].at + TIMEOUT_MS * 2.5);
    const smsAttempts = await attemptRows(t.app, assignment.id, 'SMS');
    expect(smsAttempts[0]).toMatchObject({ outcome: 'RETRY', http_status: null, error: `the gateway did not answer within ${TIMEOUT_MS} ms` });
    const pushAttempts = await attemptRows(t.app, assignment.id, 'PUSH');
    expect(pushAttempts[0].outcome).toBe('RETRY');
    expect(pushAttempts[0].error).toMatch(/^network error: /);
  });

  it('delivers every assignment exactly once per channel under concurrent claims and a gateway that fails now and then', async () => {
    const users = Array.from({ length: 40 }, (_, i) => `crowd-${i}`);
    const { campaignId } = await deliveringCampaign('Crowd', users.length);
    for (const userId of users) await upsertProfile(t, { userId, phoneNumber: `+49301000${String(users.indexOf(userId)).padStart(3, '0')}`, pushToken: `push-${userId}` });
    // Every third send fails its first try.
    let firstTries = 0;
    gateway.behave = (_request, seenBefore) => ({ status: seenBefore === 0 && ++firstTries % 3 === 0 ? 502 : 200 });
    const assignments = await Promise.all(users.map((userId) => claim(t, campaignId, userId)));
    // Claiming again (reused) while sends are under way adds nothing.
    await Promise.all(users.slice(0, 10).map((userId) => claim(t, campaignId, userId)));

    const expectedKeys = assignments.flatMap((a) => [`${a.id}:SMS`, `${a.id}:PUSH`]).sort();
    await eventually(() => gateway.acceptedPerKey().size === expectedKeys.length, 15_000, 'every send accepted');
    await sendsSettled(t.app);
    const accepted = gateway.acceptedPerKey();
    expect([...accepted.keys()].sort()).toEqual(expectedKeys);
    // A key is accepted twice only if we gave up waiting for the first answer (a timeout: the
    // gateway may have taken it, hence the Idempotency-Key); never after a 2xx reached us.
    for (const [key, count] of accepted) {
      if (count === 1) continue;
      const [assignmentId, channel] = key.split(':');
      const attempts = await attemptRows(t.app, assignmentId, channel);
      expect(attempts.filter((a) => a.outcome === 'SENT')).toHaveLength(1);
      expect(attempts.filter((a) => a.error?.startsWith('the gateway did not answer')).length).toBeGreaterThanOrEqual(count - 1);
    }
    const statuses: Array<{ status: string; n: number }> = await t.app.dataSource.query(
      `SELECT status, COUNT(*) AS n FROM deliveries WHERE assignment_id IN (?) GROUP BY status`,
      [assignments.map((a) => a.id)],
    );
    expect(statuses.map((row) => [row.status, Number(row.n)])).toEqual([['SENT', expectedKeys.length]]);
  });

  it('never sends a delivered assignment again, even when its send is enqueued again', async () => {
    const { campaignId } = await deliveringCampaign('Twice', 2, {}, { sms: true, push: false });
    await upsertProfile(t, { userId: 'ivan', phoneNumber: '+4930666666' });
    const assignment = await claim(t, campaignId, 'ivan');
    await finalDeliveries(t.app, assignment.id, 1);
    expect(gateway.requests).toHaveLength(1);

    const delivery = t.app.get(DeliveryServices).deliveries;
    await delivery.enqueueSends([{ id: assignment.id, listId: (await deliveryListOf(assignment.id)) }]);
    const queue = t.app.queues.queue(SEND_QUEUE);
    const repeated = sendJob({ assignmentId: assignment.id, channel: 'SMS' as never });
    await queue.add(repeated.name, repeated.data, repeated.opts);
    await sendsSettled(t.app);
    expect(gateway.requests).toHaveLength(1);
    expect((await deliveryRows(t.app, assignment.id))[0]).toMatchObject({ status: 'SENT', attempts: 1 });
  });

  async function deliveryListOf(assignmentId: string): Promise<string> {
    const [row] = await t.app.dataSource.query('SELECT list_id FROM coupon_assignments WHERE id = ?', [assignmentId]);
    return String(row.list_id);
  }

  /** An assignment row as the claim engine writes it, `secondsAgo` old, without any event. */
  async function insertAssignment(listId: string, campaignId: string, userId: string, code: string, secondsAgo: number): Promise<string> {
    const id = uuidv7();
    await t.app.dataSource.query(
      `INSERT INTO coupon_assignments (id, list_id, campaign_id, code_seq, code, user_id, assigned_at)
       VALUES (?, ?, ?, NULL, ?, ?, UTC_TIMESTAMP(3) - INTERVAL ? SECOND)`,
      [id, listId, campaignId, code, userId, secondsAgo],
    );
    return id;
  }

  it('sends assignments announced by CouponsAssigned, and the sweep recovers those whose announcement was lost', async () => {
    const listId = await createList(t, { name: 'Recovered', kind: 'FIXED', fixedCode: 'RECOVER', fixedLimit: 100 });
    const campaignId = await createCampaign(t, [listId]);
    await setDelivery(t, listId, { smsMessageId, smsEnabled: true });
    for (const userId of ['judy', 'ken', 'leo', 'mia']) await upsertProfile(t, { userId, phoneNumber: '+4930555555' });

    // Announced after commit (what the claim engine does).
    const announced = await insertAssignment(listId, campaignId, 'judy', 'RECOVER', 0);
    t.app.eventBus.publish(
      new CouponsAssigned([{ id: announced, listId, campaignId, userId: 'judy', externalId: null, code: 'RECOVER', assignedAt: new Date(), expiresAt: null }]),
    );
    await finalDeliveries(t.app, announced, 1);
    expect(gateway.forKey(`${announced}:SMS`)).toHaveLength(1);

    // SMS was switched on an hour ago; one assignment was made before that, two after, never announced.
    await t.app.dataSource.query('UPDATE list_delivery_settings SET sms_enabled_at = UTC_TIMESTAMP(3) - INTERVAL 1 HOUR WHERE list_id = ?', [listId]);
    const before = await insertAssignment(listId, campaignId, 'ken', 'RECOVER', 2 * 3600);
    const lost = await insertAssignment(listId, campaignId, 'leo', 'RECOVER', 45);
    const tooRecent = await insertAssignment(listId, campaignId, 'mia', 'RECOVER', 1);
    const result = await t.app.get(DeliveryServices).deliveries.sweep();
    expect(result.enqueued).toBe(1);
    expect((await finalDeliveries(t.app, lost, 1))[0].status).toBe('SENT');
    expect(gateway.forKey(`${lost}:SMS`)).toHaveLength(1);
    expect(await deliveryRows(t.app, before)).toEqual([]);
    expect(await deliveryRows(t.app, tooRecent)).toEqual([]);
    // Nothing left to recover: a second sweep enqueues nothing.
    expect((await t.app.get(DeliveryServices).deliveries.sweep()).enqueued).toBe(0);
  });

  it('the sweep re-enqueues a PENDING delivery whose job was lost', async () => {
    const listId = await createList(t, { name: 'Stale', kind: 'FIXED', fixedCode: 'STALE', fixedLimit: 10 });
    const campaignId = await createCampaign(t, [listId]);
    await setDelivery(t, listId, { smsMessageId, smsEnabled: true });
    await upsertProfile(t, { userId: 'nina', phoneNumber: '+4930444444' });
    const id = await insertAssignment(listId, campaignId, 'nina', 'STALE', 1);
    await t.app.dataSource.query(
      `INSERT INTO deliveries (assignment_id, channel, status, attempts, updated_at) VALUES (?, 'SMS', 'PENDING', 0, UTC_TIMESTAMP(3) - INTERVAL 20 MINUTE)`,
      [id],
    );
    expect((await t.app.get(DeliveryServices).deliveries.sweep()).requeued).toBe(1);
    expect((await finalDeliveries(t.app, id, 1))[0].status).toBe('SENT');
    expect(gateway.forKey(`${id}:SMS`)).toHaveLength(1);
  });
});
