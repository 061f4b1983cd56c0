import { errorCode } from '../helpers/graphql-client';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { createList, createMessage, gqlData, setDelivery, upsertProfile } from './delivery-fixtures';
import { TestGateway } from './gateway';

describe('delivery settings, messages and profiles', () => {
  let gateway: TestGateway;
  let t: TestApp;
  let smsId: string;
  let pushId: string;
  let inactiveSmsId: string;

  beforeAll(async () => {
    gateway = await new TestGateway().start();
    // Only SMS is integrated here: PUSH must be refused as not integrated.
    t = await startTestApp({ env: { SMS_WEBHOOK_URL: `${gateway.url}/sms` } });
    smsId = await createMessage(t, 'SMS', 'Your code {couponcode}, valid until {expirydate}');
    pushId = await createMessage(t, 'PUSH', 'Code {couponcode}');
    inactiveSmsId = await createMessage(t, 'SMS', 'Old text {couponcode}', false);
  });
  afterAll(async () => {
    await t.destroy();
    await gateway.stop();
  });

  it('creates, lists, reads and edits transactional messages', async () => {
    const sms = await gqlData(t, `query($c: DeliveryChannel) { transactionalMessages(channel: $c) { id channel name body active } }`, { c: 'SMS' });
    expect(sms.transactionalMessages.map((m: { id: string }) => m.id).sort()).toEqual([smsId, inactiveSmsId].sort());
    expect(sms.transactionalMessages.every((m: { channel: string }) => m.channel === 'SMS')).toBe(true);
    const all = await gqlData(t, `{ transactionalMessages { id } }`);
    expect(all.transactionalMessages).toHaveLength(3);

    const created = await gqlData(t, `mutation { createTransactionalMessage(input: { channel: PUSH, name: "Welcome", body: "Hi {couponcode}" }) { id channel name body active } }`);
    expect(created.createTransactionalMessage).toMatchObject({ channel: 'PUSH', name: 'Welcome', body: 'Hi {couponcode}', active: true });
    const edited = await gqlData(t, `mutation($id: ID!) { updateTransactionalMessage(id: $id, input: { body: "Hello {couponcode}", active: false }) { body active } }`, {
      id: created.createTransactionalMessage.id,
    });
    expect(edited.updateTransactionalMessage).toEqual({ body: 'Hello {couponcode}', active: false });
    const read = await gqlData(t, `query($id: ID!) { transactionalMessage(id: $id) { active } }`, { id: created.createTransactionalMessage.id });
    expect(read.transactionalMessage.active).toBe(false);
  });

  it.each([
    ['a blank body', { channel: 'SMS', name: 'x', body: '   ' }, 'input.body'],
    ['an empty name', { channel: 'SMS', name: '', body: 'x' }, 'input.name'],
    ['an SMS body over 1600 characters', { channel: 'SMS', name: 'x', body: 'y'.repeat(1601) }, 'input.body'],
  ])('refuses a message with %s', async (_what, input, field) => {
    const response = await t.gql(`mutation($input: CreateTransactionalMessageInput!) { createTransactionalMessage(input: $input) { id } }`, { input });
    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(response.errors![0].extensions!.field).toBe(field);
  });

  it('enables SMS with an active SMS message and shows it on CouponList.delivery', async () => {
    const listId = await createList(t, { name: 'Fixed', kind: 'FIXED', fixedCode: 'SAVE10', fixedLimit: 10 });
    const before = await gqlData(t, `query($id: ID!) { couponList(id: $id) { delivery { smsEnabled pushEnabled smsMessage { id } pushMessage { id } } } }`, { id: listId });
    expect(before.couponList.delivery).toEqual({ smsEnabled: false, pushEnabled: false, smsMessage: null, pushMessage: null });

    const enabled = await setDelivery(t, listId, { smsMessageId: smsId, smsEnabled: true });
    expect(enabled.errors).toBeUndefined();
    expect(enabled.data.setListDelivery.delivery).toEqual({ smsEnabled: true, pushEnabled: false, smsMessage: { id: smsId }, pushMessage: null });

    // A push message may be chosen while push stays off (and push is not integrated here).
    const chosen = await setDelivery(t, listId, { pushMessageId: pushId });
    expect(chosen.data.setListDelivery.delivery).toEqual({ smsEnabled: true, pushEnabled: false, smsMessage: { id: smsId }, pushMessage: { id: pushId } });

    const off = await setDelivery(t, listId, { smsEnabled: false });
    expect(off.data.setListDelivery.delivery).toMatchObject({ smsEnabled: false, smsMessage: { id: smsId } });

    // Many lists in one response: delivery is loaded for all of them.
    const page = await gqlData(t, `{ couponLists { items { id delivery { smsEnabled } } } }`);
    expect(page.couponLists.items.find((item: { id: string }) => item.id === listId).delivery.smsEnabled).toBe(false);
  });

  it('refuses to enable a channel without an active message of that channel (BAD_USER_INPUT naming the field)', async () => {
    const listId = await createList(t, { name: 'Refusals', kind: 'FIXED', fixedCode: 'X1', fixedLimit: 3 });
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ smsEnabled: true }, 'input.smsMessageId'],
      [{ smsEnabled: true, smsMessageId: pushId }, 'input.smsMessageId'],
      [{ smsEnabled: true, smsMessageId: inactiveSmsId }, 'input.smsMessageId'],
      [{ smsEnabled: true, smsMessageId: '999999' }, 'input.smsMessageId'],
      [{ smsMessageId: 'abc' }, 'input.smsMessageId'],
      [{ smsMessageId: pushId }, 'input.smsMessageId'],
    ];
    for (const [input, field] of cases) {
      const response = await setDelivery(t, listId, input);
      expect([input, errorCode(response)]).toEqual([input, 'BAD_USER_INPUT']);
      expect(response.errors![0].extensions!.field).toBe(field);
    }
    const unchanged = await gqlData(t, `query($id: ID!) { couponList(id: $id) { delivery { smsEnabled smsMessage { id } } } }`, { id: listId });
    expect(unchanged.couponList.delivery).toEqual({ smsEnabled: false, smsMessage: null });
    expect(errorCode(await setDelivery(t, '987654', { smsEnabled: false }))).toBe('NOT_FOUND');
  });

  it('answers CHANNEL_NOT_INTEGRATED when enabling a channel whose gateway URL is not set', async () => {
    const listId = await createList(t, { name: 'Push list', kind: 'FIXED', fixedCode: 'P1', fixedLimit: 3 });
    const response = await setDelivery(t, listId, { pushMessageId: pushId, pushEnabled: true });
    expect(errorCode(response)).toBe('CHANNEL_NOT_INTEGRATED');
    expect(response.errors![0].message).toContain('PUSH_WEBHOOK_URL');
    // Nothing was changed by the refused call; turning an unintegrated channel off is fine.
    expect((await setDelivery(t, listId, { pushEnabled: false })).data.setListDelivery.delivery).toMatchObject({ pushEnabled: false, pushMessage: null });
  });

  it('refuses to deactivate a message a list sends with, until that list stops using it', async () => {
    const messageId = await createMessage(t, 'SMS', 'In use {couponcode}');
    const listId = await createList(t, { name: 'Uses message', kind: 'FIXED', fixedCode: 'U1', fixedLimit: 3 });
    expect((await setDelivery(t, listId, { smsMessageId: messageId, smsEnabled: true })).errors).toBeUndefined();
    const deactivate = `mutation($id: ID!) { updateTransactionalMessage(id: $id, input: { active: false }) { active } }`;
    const refused = await t.gql(deactivate, { id: messageId });
    expect(errorCode(refused)).toBe('BAD_USER_INPUT');
    expect(refused.errors![0].extensions!.field).toBe('input.active');
    expect(refused.errors![0].message).toContain(listId);

    await setDelivery(t, listId, { smsEnabled: false });
    expect((await gqlData(t, deactivate, { id: messageId })).updateTransactionalMessage.active).toBe(false);
    expect(errorCode(await t.gql(deactivate, { id: '424242' }))).toBe('NOT_FOUND');
  });

  it('upserts user profiles field by field and reads them back', async () => {
    const created = await upsertProfile(t, { userId: 'User-1', externalId: 'crm-1', phoneNumber: '+49 151 1234-5678' });
    expect(created.data.upsertUserProfile).toEqual({ userId: 'User-1', externalId: 'crm-1', phoneNumber: '+49 151 1234-5678', pushToken: null, attributes: {} });
    const updated = await upsertProfile(t, { userId: 'User-1', pushToken: 'tok-abc' });
    expect(updated.data.upsertUserProfile).toMatchObject({ externalId: 'crm-1', phoneNumber: '+49 151 1234-5678', pushToken: 'tok-abc' });
    const cleared = await upsertProfile(t, { userId: 'User-1', phoneNumber: null });
    expect(cleared.data.upsertUserProfile).toMatchObject({ phoneNumber: null, pushToken: 'tok-abc' });

    // User ids are case-sensitive, like claims.
    expect((await gqlData(t, `{ userProfile(userId: "user-1") { userId } }`)).userProfile).toBeNull();
    expect((await gqlData(t, `{ userProfile(userId: "User-1") { userId pushToken } }`)).userProfile).toEqual({ userId: 'User-1', pushToken: 'tok-abc' });

    for (const [input, field] of [
      [{ userId: '' }, 'input.userId'],
      [{ userId: 'x'.repeat(192) }, 'input.userId'],
      [{ userId: 'u', phoneNumber: 'call me' }, 'input.phoneNumber'],
      [{ userId: 'u', phoneNumber: '12' }, 'input.phoneNumber'],
      [{ userId: 'u', pushToken: '' }, 'input.pushToken'],
    ] as const) {
      const response = await upsertProfile(t, input);
      expect([input, errorCode(response), response.errors?.[0].extensions?.field]).toEqual([input, 'BAD_USER_INPUT', field]);
    }
  });

  it('lets only ADMIN keys change delivery, and ADMIN or VIEWER keys read it', async () => {
    const client = await t.createKey('CLIENT');
    const viewer = await t.createKey('VIEWER');
    const create = `mutation { createTransactionalMessage(input: { channel: SMS, name: "n", body: "b" }) { id } }`;
    expect(errorCode(await t.gql(create, {}, client))).toBe('FORBIDDEN');
    expect(errorCode(await t.gql(create, {}, viewer))).toBe('FORBIDDEN');
    expect(errorCode(await t.gql(`mutation { upsertUserProfile(input: { userId: "v" }) { userId } }`, {}, viewer))).toBe('FORBIDDEN');
    expect(errorCode(await t.gql(`{ userProfile(userId: "User-1") { userId } }`, {}, client))).toBe('FORBIDDEN');
    expect((await t.gql(`{ userProfile(userId: "User-1") { userId } }`, {}, viewer)).data.userProfile.userId).toBe('User-1');
    expect((await t.gql(`{ transactionalMessages { id } }`, {}, viewer)).errors).toBeUndefined();
    expect(errorCode(await t.gql(`{ transactionalMessages { id } }`, {}, null))).toBe('UNAUTHENTICATED');
  });
});
