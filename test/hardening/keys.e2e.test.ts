import { randomBytes } from 'node:crypto';
import { errorCode, rawGraphQLSocket } from '../helpers/graphql-client';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { eventually } from '../helpers/fixtures';

const CREATE_KEY = 'mutation { createApiKey(name: "minted", role: ADMIN) { secret } }';

/** An acknowledged graphql-transport-ws connection of `secret`. */
async function adminSocket(t: TestApp, secret: string) {
  const connection = rawGraphQLSocket(t.baseUrl);
  await connection.init({ authorization: `Bearer ${secret}` });
  await eventually(() => connection.acknowledged(), 10_000, 'connection_ack');
  return connection;
}

const keyCount = async (t: TestApp) => Number((await t.app.dataSource.query('SELECT COUNT(*) AS n FROM api_keys'))[0].n);
const lookups = async (t: TestApp) => Number(/^api_key_lookups_total (\d+)/m.exec(await (await fetch(`${t.baseUrl}/metrics`)).text())![1]);

describe('revocation on every API process', () => {
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    a = await startTestApp({ env: { ROLE: 'api' } });
    b = await startTestApp({ env: { ROLE: 'api' }, shareWith: a });
  });
  afterAll(async () => {
    await b.destroy();
    await a.destroy();
  });

  it('closes the revoked ADMIN key\'s sockets on both processes with 4403 within 5 s, and mints no key after', async () => {
    const created = await a.gql('mutation { createApiKey(name: "to revoke", role: ADMIN) { secret apiKey { id } } }');
    const { secret, apiKey } = created.data.createApiKey;
    const onA = await adminSocket(a, secret);
    const onB = await adminSocket(b, secret);
    // The sockets work before the revocation.
    onB.subscribe('before', CREATE_KEY);
    await eventually(() => onB.messages.find((message) => message.id === 'before' && message.type === 'next'), 10_000, 'a key minted');
    const before = await keyCount(a);

    const revokedAt = Date.now();
    expect((await a.gql('mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }', { id: apiKey.id })).data.revokeApiKey.revokedAt).toBeTruthy();
    // Straight after the revocation answered: an operation on the other process's socket.
    onB.subscribe('after', CREATE_KEY);
    await eventually(() => onA.closeCode() !== null && onB.closeCode() !== null, 5_000, 'both sockets closed');
    expect(Date.now() - revokedAt).toBeLessThan(5_000);
    expect([onA.closeCode(), onB.closeCode()]).toEqual([4403, 4403]);
    expect(onB.messages.filter((message) => message.id === 'after' && message.type === 'next')).toEqual([]);
    expect(await keyCount(a)).toBe(before);

    // Neither process takes the key again, over HTTP or WebSocket.
    for (const t of [a, b]) {
      expect(errorCode(await t.gql(CREATE_KEY, {}, secret))).toBe('UNAUTHENTICATED');
      const again = rawGraphQLSocket(t.baseUrl);
      await again.init({ authorization: `Bearer ${secret}` });
      expect(await again.closed).toBe(4401);
    }
    expect(await keyCount(a)).toBe(before);
  });
});

describe('revocation whose message is lost', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.destroy());

  it('still closes the key\'s sockets within 5 s', async () => {
    const created = await t.gql('mutation { createApiKey(name: "revoked by hand", role: VIEWER) { secret apiKey { id } } }');
    const socket = await adminSocket(t, created.data.createApiKey.secret);
    // Revoked in the database only, as if the pub/sub message never arrived.
    await t.app.dataSource.query('UPDATE api_keys SET revoked_at = UTC_TIMESTAMP(3) WHERE id = ?', [created.data.createApiKey.apiKey.id]);
    await eventually(() => socket.closeCode() !== null, 5_000, 'the socket closed');
    expect(socket.closeCode()).toBe(4403);
  });
});

describe('API key lookups', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ env: { API_KEY_CACHE_SIZE: '50' } });
  });
  afterAll(() => t.destroy());

  it('lets random bearer tokens neither push real keys out of the cache nor cost a query each time', async () => {
    const client = await t.createKey('CLIENT');
    expect((await t.gql('{ __typename }', {}, client)).status).toBe(200);
    const start = await lookups(t);

    // 300 random well-formed tokens: each is looked up once and remembered as unknown...
    const random = Array.from({ length: 300 }, () => `ck_${randomBytes(32).toString('base64url')}`);
    for (let i = 0; i < random.length; i += 50) {
      const answers = await Promise.all(random.slice(i, i + 50).map((token) => t.gql('{ __typename }', {}, token)));
      expect(answers.every((answer) => answer.status === 401)).toBe(true);
    }
    expect(await lookups(t)).toBe(start + 300);
    // ...so a client retrying one costs one query, and malformed tokens are never looked up.
    const retried = `ck_${randomBytes(32).toString('base64url')}`;
    await Promise.all(Array.from({ length: 20 }, () => t.gql('{ __typename }', {}, retried)));
    for (let i = 0; i < 10; i++) await t.gql('{ __typename }', {}, retried);
    await Promise.all(Array.from({ length: 50 }, (_, i) => t.gql('{ __typename }', {}, `junk-${i}`)));
    expect(await lookups(t)).toBe(start + 301);

    // The real key is still cached: no lookup.
    expect((await t.gql('{ __typename }', {}, client)).status).toBe(200);
    expect(await lookups(t)).toBe(start + 301);
  });
});
