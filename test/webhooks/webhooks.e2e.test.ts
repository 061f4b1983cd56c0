import { Webhook } from 'standardwebhooks';
import { startSmtpSink, type SmtpSink } from '../alerts/smtp-sink';
import { exportList } from '../exports/fixtures';
import { errorCode } from '../helpers/graphql-client';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { upload, uploadAndWait, waitForUpload } from '../uploads/upload-helpers';
import { WebhookDispatcher } from '../../src/modules/webhooks/webhook-dispatcher';
import { WebhookRetention } from '../../src/modules/webhooks/webhook-retention';
import { ALL_EVENTS, createEndpoint, deliveries, ENDPOINT_FIELDS, waitForDeliveries } from './webhook-fixtures';
import { WebhookReceiver } from './webhook-receiver';
import { appendCodes, claim, codesNamed, createCampaign, createList, createUniqueList } from '../helpers/fixtures';

const REDEEM = `mutation($input: RedeemCouponInput!) { redeemCoupon(input: $input) { id assignmentId code userId orderId redeemedAt } }`;

/** Small, so a test can fill an endpoint's whole window. */
const ENDPOINT_CONCURRENCY = 8;

describe('webhooks against a real receiver', () => {
  let t: TestApp;
  let receiver: WebhookReceiver;
  let smtp: SmtpSink;

  beforeAll(async () => {
    receiver = new WebhookReceiver();
    await receiver.start();
    smtp = await startSmtpSink();
    t = await startTestApp({
      env: {
        // Fast retries and sweeps; a long timeout, so a held request is answered only when the test says.
        WEBHOOK_RETRY_SCHEDULE_SECONDS: '0.2,0.4,0.8,1.6',
        WEBHOOK_SWEEP_INTERVAL_MS: '300',
        WEBHOOK_TIMEOUT_MS: '60000',
        WEBHOOK_DISABLE_AFTER_SECONDS: '2',
        WEBHOOK_ENDPOINT_CONCURRENCY: String(ENDPOINT_CONCURRENCY),
        MAX_UPLOAD_BYTES: '300',
        SMTP_URL: smtp.url,
        ALERT_FROM: 'alerts@example.com',
      },
    });
  });
  afterAll(async () => {
    await t.destroy();
    await receiver.stop();
    await smtp.close();
  });

  const deleteEndpoint = async (id: string) => expect((await t.gql(`mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }`, { id })).data.deleteWebhookEndpoint).toBe(true);

  it('manages endpoints: the secret is shown once, VIEWER reads, CLIENT may not, bad URLs and events are refused', async () => {
    const created = await t.gql(
      `mutation { createWebhookEndpoint(input: { url: "${receiver.url('/manage')}", events: [COUPON_ASSIGNED, COUPON_ASSIGNED], description: "CRM" }) {
        secret endpoint { ${ENDPOINT_FIELDS} } } }`,
    );
    const { secret, endpoint } = created.data.createWebhookEndpoint;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(endpoint).toMatchObject({ url: receiver.url('/manage'), events: ['COUPON_ASSIGNED'], description: 'CRM', enabled: true, disabledReason: null });
    const viewer = await t.createKey('VIEWER');
    const listed = await t.gql(`query { webhookEndpoints { ${ENDPOINT_FIELDS} } }`, {}, viewer);
    expect(listed.data.webhookEndpoints).toEqual([endpoint]);
    expect(JSON.stringify(listed)).not.toContain(secret);
    expect(errorCode(await t.gql(`query { webhookEndpoints { id } }`, {}, await t.createKey('CLIENT')))).toBe('FORBIDDEN');
    expect(errorCode(await t.gql(`mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }`, { id: endpoint.id }, viewer))).toBe('FORBIDDEN');

    const updated = await t.gql(`mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: { events: [EXPORT_COMPLETED], enabled: false }) { events enabled } }`, {
      id: endpoint.id,
    });
    expect(updated.data.updateWebhookEndpoint).toEqual({ events: ['EXPORT_COMPLETED'], enabled: false });
    for (const url of ['ftp://example.com/hook', 'not a url', 'http://user:pw@example.com/']) {
      const refused = await t.gql(`mutation($url: String!) { createWebhookEndpoint(input: { url: $url, events: [COUPON_ASSIGNED] }) { secret } }`, { url });
      expect(errorCode(refused)).toBe('BAD_USER_INPUT');
      expect(refused.errors![0].extensions!.field).toBe('input.url');
    }
    expect(errorCode(await t.gql(`mutation { createWebhookEndpoint(input: { url: "https://example.com", events: [] }) { secret } }`))).toBe('BAD_USER_INPUT');
    await deleteEndpoint(endpoint.id);
    expect(errorCode(await t.gql(`mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }`, { id: endpoint.id }))).toBe('NOT_FOUND');
  });

  it('each event type arrives once, signed, with the data a receiver needs', async () => {
    const endpoint = await createEndpoint(t, { url: receiver.url('/all'), events: ALL_EVENTS });
    receiver.route('/all', endpoint.secret);

    // Two codes, warning limit 1: the first claim crosses the limit, the second exhausts the list and finishes the campaign.
    const listId = await createUniqueList(t, 'Hooked', ['HOOK-1', 'HOOK-2'], { warningLimit: 1 });
    const campaignId = await createCampaign(t, [listId]);
    const first = (await claim(t, { campaignId, userId: 'h1', externalId: 'crm-1' })).data.claimCoupon;
    await t.app.eventBus.idle();
    const second = (await claim(t, { campaignId, userId: 'h2' })).data.claimCoupon;
    const redemption = (await t.gql(REDEEM, { input: { code: first.code, userId: 'h1', orderId: 'O-1' } })).data.redeemCoupon;
    const completed = await uploadAndWait(t, listId, 'HOOK-3\nHOOK-4\n');
    expect(completed.status).toBe('COMPLETED');
    const tooBig = await upload(t, listId, `${codesNamed('BIG', 60).join('\n')}\n`);
    const failedId = tooBig.data?.uploadCouponCodes?.id ?? (await t.app.dataSource.query(`SELECT id FROM code_uploads WHERE status = 'FAILED' ORDER BY id DESC LIMIT 1`))[0].id;
    expect((await waitForUpload(t, String(failedId))).status).toBe('FAILED');
    const exported = await exportList(t, { listId });
    const expiringId = await createList(t, { name: 'Expiring', kind: 'UNIQUE', expiresAt: new Date(Date.now() + 3000).toISOString() });
    await appendCodes(t.app, expiringId, ['EXP-1']);
    const expiringCampaign = await createCampaign(t, [expiringId]);

    const expected: Record<string, number> = {
      'coupon.assigned': 2,
      'coupon_list.low_stock': 1,
      'coupon_list.exhausted': 1,
      'campaign.finished': 2,
      'coupon.redeemed': 1,
      'code_upload.completed': 1,
      'coupon_list.replenished': 1,
      'code_upload.failed': 1,
      'export.completed': 1,
      'coupon_list.expired': 1,
    };
    const total = Object.values(expected).reduce((a, b) => a + b, 0);
    await receiver.waitFor(() => receiver.at('/all').length >= total, `${total} messages`);
    // Every message delivered with one attempt, and nothing more arrives after that.
    await waitForDeliveries(t, endpoint.id, total, (items) => items.every((item) => item.status === 'DELIVERED'));
    await t.app.eventBus.idle();

    const got = receiver.at('/all');
    expect(got.filter((item) => item.verifyError !== null)).toEqual([]);
    expect(got).toHaveLength(total);
    expect(new Set(got.map((item) => item.id)).size).toBe(total);
    const byType = new Map<string, Array<Record<string, any>>>();
    for (const item of got) byType.set(item.payload!.type, [...(byType.get(item.payload!.type) ?? []), item.payload!.data]);
    expect(Object.fromEntries([...byType].map(([type, items]) => [type, items.length]))).toEqual(expected);
    for (const item of got) {
      expect(item.id).toMatch(/^msg_[0-9a-f]{32}$/);
      expect(Math.abs(Number(item.timestamp) * 1000 - item.at)).toBeLessThan(60_000);
      expect(new Date(item.payload!.timestamp).toISOString()).toBe(item.payload!.timestamp);
    }

    expect(byType.get('coupon.assigned')).toHaveLength(2);
    expect(byType.get('coupon.assigned')).toEqual(
      expect.arrayContaining([first, second].map((a) => ({ assignmentId: a.id, code: a.code, listId, campaignId, userId: a.userId, externalId: a.externalId, assignedAt: a.assignedAt })),
      ),
    );
    expect(byType.get('coupon_list.low_stock')).toEqual([expect.objectContaining({ listId, listName: 'Hooked', availableCodes: 1, warningLimit: 1 })]);
    expect(byType.get('coupon_list.exhausted')).toEqual([expect.objectContaining({ listId, listName: 'Hooked', availableCodes: 0, totalCodes: 2 })]);
    expect(byType.get('campaign.finished')).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ campaignId, finishReason: 'LIST_EXHAUSTED' }),
        expect.objectContaining({ campaignId: expiringCampaign, finishReason: 'LIST_EXPIRED' }),
      ]),
    );
    expect(byType.get('coupon.redeemed')).toEqual([
      expect.objectContaining({ redemptionId: redemption.id, assignmentId: first.id, code: first.code, listId, campaignId, userId: 'h1', orderId: 'O-1', redeemedAt: redemption.redeemedAt }),
    ]);
    expect(byType.get('code_upload.completed')).toEqual([expect.objectContaining({ uploadId: completed.id, listId, codesAdded: 2, availableCodes: 2 })]);
    expect(byType.get('coupon_list.replenished')).toEqual([expect.objectContaining({ listId, availableCodes: 2 })]);
    expect(byType.get('code_upload.failed')).toEqual([expect.objectContaining({ uploadId: String(failedId), listId })]);
    expect(byType.get('export.completed')).toEqual([{ exportId: exported.id, listId, rowCount: 2 }]);
    expect(byType.get('coupon_list.expired')).toEqual([expect.objectContaining({ listId: expiringId, listName: 'Expiring' })]);
    await deleteEndpoint(endpoint.id);
  });

  it('retries failed attempts (an error status, a hang-up) with the same webhook-id, records every attempt, and redelivers by hand', async () => {
    const endpoint = await createEndpoint(t, { url: receiver.url('/flaky'), events: ['COUPON_ASSIGNED'] });
    receiver.route('/flaky', endpoint.secret, [{ status: 503 }, { hangUp: true }, { status: 200, delayMs: 300 }]);
    const listId = await createUniqueList(t, 'Flaky', ['FLAKY-1']);
    const campaignId = await createCampaign(t, [listId]);
    const assignment = (await claim(t, { campaignId, userId: 'flaky-user' })).data.claimCoupon;

    const [delivery] = await waitForDeliveries(t, endpoint.id, 1, (items) => items[0].status === 'DELIVERED');
    const got = receiver.at('/flaky');
    expect(got).toHaveLength(3);
    expect(new Set(got.map((item) => item.id))).toEqual(new Set([delivery.messageId]));
    expect(new Set(got.map((item) => item.body)).size).toBe(1);
    expect(got.every((item) => item.verifyError === null)).toBe(true);
    expect(got[0].payload!.data.assignmentId).toBe(assignment.id);
    expect(delivery).toMatchObject({ event: 'COUPON_ASSIGNED', status: 'DELIVERED', attempts: 3, lastStatusCode: 200, nextAttemptAt: null });
    expect(delivery.attemptLog.map((attempt: { statusCode: number | null }) => attempt.statusCode)).toEqual([503, null, 200]);
    expect(delivery.attemptLog[0].error).toContain('HTTP 503');

    const redelivered = await t.gql(`mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { id status } }`, { id: delivery.id });
    expect(redelivered.data.redeliverWebhook).toEqual({ id: delivery.id, status: 'PENDING' });
    await receiver.waitFor(() => receiver.at('/flaky').length === 4, 'the redelivery');
    expect(receiver.at('/flaky')[3].id).toBe(delivery.messageId);
    const [after] = await waitForDeliveries(t, endpoint.id, 1, (items) => items[0].status === 'DELIVERED' && items[0].attempts === 4);
    expect(after.attemptLog).toHaveLength(4);
    await deleteEndpoint(endpoint.id);
  });

  it('a dead endpoint delays no other on the same host: the live one gets everything while the dead one holds a full window', async () => {
    const dead = await createEndpoint(t, { url: receiver.url('/dead'), events: ['COUPON_ASSIGNED'] });
    receiver.route('/dead', dead.secret, [{ hold: true }]);
    const listId = await createUniqueList(t, 'Isolation', codesNamed('ISO', 320));
    const campaignId = await createCampaign(t, [listId]);
    // First the dead endpoint takes as many requests as it may have in flight, all held open.
    const early = await Promise.all(Array.from({ length: 20 }, (_, i) => claim(t, { campaignId, userId: `iso-early-${i}` })));
    expect(early.every((response) => !response.errors)).toBe(true);
    await receiver.waitFor(() => receiver.at('/dead').length >= ENDPOINT_CONCURRENCY, 'a full window of held requests at the dead endpoint');

    const live = await createEndpoint(t, { url: receiver.url('/live'), events: ['COUPON_ASSIGNED'] });
    receiver.route('/live', live.secret, [{ status: 204, delayMs: 20 }]);
    const claims = await Promise.all(Array.from({ length: 300 }, (_, i) => claim(t, { campaignId, userId: `iso-${i}` })));
    expect(claims.every((response) => !response.errors)).toBe(true);

    await receiver.waitFor(() => receiver.at('/live').length >= 300, 'the live endpoint to get all 300');
    // Not one dead request has been answered, and none beyond its window was sent: the live endpoint never waited for it.
    expect(receiver.at('/dead')).toHaveLength(ENDPOINT_CONCURRENCY);
    expect((await deliveries(t, dead.id, 200)).filter((item) => item.status !== 'PENDING' || item.attempts > 0)).toEqual([]);
    expect(new Set(receiver.at('/live').map((item) => item.id)).size).toBe(300);
    // Deleted before its held requests are answered, so it sends nothing more.
    await deleteEndpoint(dead.id);
    receiver.release();
    await deleteEndpoint(live.id);
  });

  it('rotation: attempts after it are signed with the new secret only, so the old one fails', async () => {
    const endpoint = await createEndpoint(t, { url: receiver.url('/rotate'), events: ['COUPON_ASSIGNED'] });
    receiver.route('/rotate', endpoint.secret, [{ status: 500 }, { hold: true }]);
    const listId = await createUniqueList(t, 'Rotation', ['ROT-1']);
    const campaignId = await createCampaign(t, [listId]);
    await claim(t, { campaignId, userId: 'rot-user' });
    await receiver.waitFor(() => receiver.at('/rotate').length >= 1, 'the first attempt');
    const rotated = await t.gql(`mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret endpoint { id } } }`, { id: endpoint.id });
    const newSecret = rotated.data.rotateWebhookSecret.secret;
    expect(newSecret).not.toBe(endpoint.secret);
    await receiver.waitFor(() => receiver.at('/rotate').length >= 2, 'the retry');

    const [before, after] = receiver.at('/rotate');
    expect(before.verifyError).toBeNull();
    expect(after.id).toBe(before.id);
    // The receiver still checks with the old secret: the retry does not verify.
    expect(after.verifyError).not.toBeNull();
    const headers = { 'webhook-id': after.id, 'webhook-timestamp': after.timestamp, 'webhook-signature': after.signature };
    expect(() => new Webhook(endpoint.secret).verify(after.body, headers)).toThrow();
    expect(new Webhook(newSecret).verify(after.body, headers)).toEqual(JSON.parse(after.body));
    receiver.release();
    await deleteEndpoint(endpoint.id);
  });

  it('an endpoint failing for the whole grace period is disabled with a reason, and its owners are e-mailed', async () => {
    const endpoint = await createEndpoint(t, { url: receiver.url('/broken'), events: ['COUPON_ASSIGNED'], alertEmails: ['ops@example.com'] });
    receiver.route('/broken', endpoint.secret, [{ status: 500 }]);
    const listId = await createUniqueList(t, 'Broken', ['BROKEN-1', 'BROKEN-2']);
    const campaignId = await createCampaign(t, [listId]);
    await claim(t, { campaignId, userId: 'b1' });

    let state: any;
    const deadline = Date.now() + 60_000;
    do {
      await new Promise((resolve) => setTimeout(resolve, 200));
      state = (await t.gql(`query { webhookEndpoints { id enabled disabledReason failingSince } }`)).data.webhookEndpoints.find((e: { id: string }) => e.id === endpoint.id);
    } while (state.enabled && Date.now() < deadline);
    expect(state.enabled).toBe(false);
    expect(state.disabledReason).toMatch(/every attempt failed since .* last error: HTTP 500/);
    await receiver.waitFor(() => smtp.messages.some((mail) => mail.subject.includes(receiver.url('/broken'))), 'the alert e-mail');
    const mail = smtp.messages.find((m) => m.subject.includes(receiver.url('/broken')))!;
    expect(mail.to).toEqual(['ops@example.com']);
    expect(mail.text).toContain('HTTP 500');

    // A disabled endpoint gets nothing; enabled again, it gets what happens from then on.
    const seen = receiver.at('/broken').length;
    receiver.route('/broken', endpoint.secret, [{ status: 200 }]);
    await claim(t, { campaignId, userId: 'b2' });
    await t.app.eventBus.idle();
    await t.app.get(WebhookDispatcher).sweep();
    expect(receiver.at('/broken').length).toBe(seen);
    const enabled = await t.gql(`mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: { enabled: true }) { enabled disabledReason failingSince } }`, { id: endpoint.id });
    expect(enabled.data.updateWebhookEndpoint).toEqual({ enabled: true, disabledReason: null, failingSince: null });
    await claim(t, { campaignId: await createCampaign(t, [await createUniqueList(t, 'Broken again', ['BROKEN-3'])]), userId: 'b3' });
    await receiver.waitFor(() => receiver.at('/broken').some((item) => item.payload?.data.userId === 'b3'), 'a message after re-enabling');
    expect(receiver.at('/broken').some((item) => item.payload?.data.userId === 'b2')).toBe(false);
    await deleteEndpoint(endpoint.id);
  });

  it('claims write no outbox message that no enabled endpoint subscribes to', async () => {
    for (const existing of (await t.gql(`query { webhookEndpoints { id } }`)).data.webhookEndpoints) await deleteEndpoint(existing.id);
    const listId = await createUniqueList(t, 'Quiet', codesNamed('QUIET', 4));
    const campaignId = await createCampaign(t, [listId]);
    const assignedMessages = async () =>
      Number(
        (
          await t.app.dataSource.query(
            `SELECT COUNT(*) AS n FROM webhook_messages WHERE event_type = 'COUPON_ASSIGNED' AND JSON_UNQUOTE(JSON_EXTRACT(payload, '$.campaignId')) = ?`,
            [campaignId],
          )
        )[0].n,
      );

    await claim(t, { campaignId, userId: 'q1' }); // no endpoint at all
    const other = await createEndpoint(t, { url: receiver.url('/quiet'), events: ['EXPORT_COMPLETED'] });
    await claim(t, { campaignId, userId: 'q2' }); // an endpoint for another event
    const disabled = await createEndpoint(t, { url: receiver.url('/quiet'), events: ['COUPON_ASSIGNED'] });
    await t.gql(`mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: { enabled: false }) { enabled } }`, { id: disabled.id });
    await claim(t, { campaignId, userId: 'q3' }); // a disabled endpoint for this event
    expect(await assignedMessages()).toBe(0);

    const listening = await createEndpoint(t, { url: receiver.url('/listening'), events: ['COUPON_ASSIGNED'] });
    receiver.route('/listening', listening.secret);
    const fourth = (await claim(t, { campaignId, userId: 'q4' })).data.claimCoupon;
    expect(await assignedMessages()).toBe(1);
    await receiver.waitFor(() => receiver.at('/listening').length === 1, 'the one message after the endpoint was created');
    expect(receiver.at('/listening')[0].payload?.data).toMatchObject({ assignmentId: fourth.id, userId: 'q4' });
    for (const endpoint of [other, disabled, listening]) await deleteEndpoint(endpoint.id);
  });

  it('a claim commits its coupon.assigned message already dispatched, with one delivery per subscribed endpoint', async () => {
    for (const existing of (await t.gql(`query { webhookEndpoints { id } }`)).data.webhookEndpoints) await deleteEndpoint(existing.id);
    const listId = await createUniqueList(t, 'Direct', codesNamed('DIRECT', 2));
    const campaignId = await createCampaign(t, [listId]);
    const first = await createEndpoint(t, { url: receiver.url('/direct-1'), events: ['COUPON_ASSIGNED'] });
    const second = await createEndpoint(t, { url: receiver.url('/direct-2'), events: ['COUPON_REDEEMED', 'COUPON_ASSIGNED'] });
    const other = await createEndpoint(t, { url: receiver.url('/direct-other'), events: ['EXPORT_COMPLETED'] });
    receiver.route('/direct-1', first.secret);
    receiver.route('/direct-2', second.secret);

    const assignment = (await claim(t, { campaignId, userId: 'direct-user' })).data.claimCoupon;
    // Read as soon as the claim answered: the claim's own transaction wrote them (no dispatch round after it).
    const rows: Array<{ dispatched: number; endpoint_id: string | null }> = await t.app.dataSource.query(
      `SELECT m.dispatched, d.endpoint_id FROM webhook_messages m LEFT JOIN webhook_deliveries d ON d.message_row_id = m.id
        WHERE m.event_type = 'COUPON_ASSIGNED' AND JSON_UNQUOTE(JSON_EXTRACT(m.payload, '$.assignmentId')) = ? ORDER BY d.endpoint_id`,
      [assignment.id],
    );
    expect(rows.map((row) => [Number(row.dispatched), String(row.endpoint_id)])).toEqual([[1, first.id], [1, second.id]].sort((a, b) => Number(a[1]) - Number(b[1])));

    await receiver.waitFor(() => receiver.at('/direct-1').length === 1 && receiver.at('/direct-2').length === 1, 'the message at both endpoints');
    const [one, two] = [receiver.at('/direct-1')[0], receiver.at('/direct-2')[0]];
    expect(one.payload?.data).toMatchObject({ assignmentId: assignment.id, code: assignment.code, listId, campaignId, userId: 'direct-user' });
    expect(two.id).toBe(one.id);
    await waitForDeliveries(t, first.id, 1, (items) => items[0].status === 'DELIVERED' && items[0].attempts === 1);
    expect(await deliveries(t, other.id)).toEqual([]);
    for (const endpoint of [first, second, other]) await deleteEndpoint(endpoint.id);
  });

  it('retention deletes messages past WEBHOOK_RETENTION_DAYS whose deliveries are final, with their deliveries and attempts; a PENDING one keeps its message', async () => {
    const { id: endpointId } = await createEndpoint(t, { url: receiver.url('/retention'), events: ['LIST_LOW_STOCK'] });
    const db = t.app.dataSource;
    const old = new Date(Date.now() - 40 * 86_400_000);
    const recent = new Date(Date.now() - 86_400_000);
    const message = async (name: string, at: Date) => {
      const result = await db.query(
        `INSERT INTO webhook_messages (message_id, event_type, payload, occurred_at, dispatched) VALUES (UUID(), 'LIST_LOW_STOCK', JSON_OBJECT('name', ?), ?, 1)`,
        [name, at],
      );
      return String(result.insertId);
    };
    const delivery = async (messageRowId: string, status: string, at: Date, attempts: number) => {
      const result = await db.query(
        `INSERT INTO webhook_deliveries (endpoint_id, message_row_id, status, attempts, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?)`,
        [endpointId, messageRowId, status, attempts, at, status === 'PENDING' ? new Date(Date.now() + 86_400_000) : null],
      );
      const id = String(result.insertId);
      for (let attempt = 1; attempt <= attempts; attempt++) {
        await db.query('INSERT INTO webhook_attempts (delivery_id, attempt, status_code, duration_ms, at) VALUES (?, ?, 500, 1, ?)', [id, attempt, at]);
      }
      return id;
    };
    const delivered = await message('old delivered', old);
    const failed = await message('old failed', old);
    const pending = await message('old pending', old);
    const young = await message('recent', recent);
    await delivery(delivered, 'DELIVERED', old, 2);
    await delivery(failed, 'FAILED', old, 3);
    const pendingDelivery = await delivery(pending, 'PENDING', old, 1);
    const youngDelivery = await delivery(young, 'DELIVERED', recent, 1);

    const removed = await t.app.get(WebhookRetention).run();
    expect(removed).toMatchObject({ messages: 2, deliveries: 2, attempts: 5 });
    const left = async (table: string, column: string, ids: string[]) =>
      (await db.query(`SELECT ${column} AS id FROM ${table} WHERE ${column} IN (?) ORDER BY ${column}`, [ids])).map((row: { id: string }) => String(row.id));
    expect(await left('webhook_messages', 'id', [delivered, failed, pending, young])).toEqual([pending, young]);
    expect(await left('webhook_deliveries', 'message_row_id', [delivered, failed, pending, young])).toEqual([pending, young]);
    expect(await left('webhook_attempts', 'delivery_id', [pendingDelivery, youngDelivery])).toEqual([pendingDelivery, youngDelivery]);
    // Nothing more to do: a second run deletes nothing.
    expect(await t.app.get(WebhookRetention).run()).toMatchObject({ messages: 0, deliveries: 0, attempts: 0 });
    await deleteEndpoint(endpointId);
  });
});
