import { gzipSync } from 'node:zlib';
import { connect, type Socket } from 'node:net';
import { errorCode, rawGraphQLSocket, wsClient } from '../helpers/graphql-client';
import { startTestApp, TEST_ADMIN_KEY, type TestApp } from '../helpers/test-app';
import { eventually } from '../helpers/fixtures';

const LOW_STOCK = 'subscription { lowStockAlerts { listId } }';

/** A raw TCP connection to the app that records what comes back and when it closes. */
function rawSocket(t: TestApp): Promise<{ socket: Socket; received: () => string; closed: () => boolean }> {
  const { port } = new URL(t.baseUrl);
  return new Promise((resolve, reject) => {
    let text = '';
    let closed = false;
    const socket = connect(Number(port), '127.0.0.1', () => resolve({ socket, received: () => text, closed: () => closed }));
    socket.on('data', (chunk) => (text += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => (closed = true));
    socket.once('error', reject);
  });
}

/** A graphql-transport-ws socket that sends `connection_init` with `key` on init(). */
function openSocket(t: TestApp, key: string, init: unknown = { authorization: `Bearer ${key}` }) {
  const connection = rawGraphQLSocket(t.baseUrl);
  return { ...connection, init: () => connection.init(init) };
}

describe('the network edge', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({
      env: {
        HTTP_HEADERS_TIMEOUT_MS: '2000',
        HTTP_REQUEST_TIMEOUT_MS: '2000',
        WS_CONNECTION_INIT_TIMEOUT_MS: '2000',
        WS_MAX_SUBSCRIPTIONS_PER_SOCKET: '3',
        WS_MAX_SOCKETS_PER_KEY: '2',
      },
    });
  });
  afterAll(() => t.destroy());

  it('closes 200 slow unauthenticated sockets at the header deadline while a normal client is served', async () => {
    const slow = await Promise.all(Array.from({ length: 200 }, () => rawSocket(t)));
    for (const { socket } of slow) socket.write('POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    const trickle = setInterval(() => slow.forEach(({ socket, closed }) => closed() || socket.write('a')), 200);
    try {
      expect((await t.gql('{ __typename }')).data).toEqual({ __typename: 'Query' });
      await eventually(() => slow.every(({ closed }) => closed()), 15_000, 'every slow socket closed');
      expect((await t.gql('{ __typename }')).data).toEqual({ __typename: 'Query' });
    } finally {
      clearInterval(trickle);
      slow.forEach(({ socket }) => socket.destroy());
    }
  });

  it('refuses a multipart upload without a valid key before reading its body, and closes the socket', async () => {
    const uploadsBefore = Number((await t.app.dataSource.query('SELECT COUNT(*) AS n FROM code_uploads'))[0].n);
    for (const authorization of ['', 'Authorization: Bearer ck_not-a-key\r\n']) {
      const raw = await rawSocket(t);
      raw.socket.write(
        'POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\napollo-require-preflight: true\r\n' +
          `${authorization}Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: 1000000000\r\n\r\n--xyz\r\n`,
      );
      raw.socket.write(Buffer.alloc(64 * 1024, 'a'));
      await eventually(() => raw.closed(), 10_000, 'the socket closed');
      expect(raw.received()).toMatch(/^HTTP\/1\.1 401/);
      expect(raw.received()).toContain('UNAUTHENTICATED');
    }
    // A key that may not upload gets 403 the same way.
    const raw = await rawSocket(t);
    raw.socket.write(
      `POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${await t.createKey('VIEWER')}\r\n` +
        'Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: 1000000000\r\n\r\n--xyz\r\n',
    );
    await eventually(() => raw.closed(), 10_000, 'the socket closed');
    expect(raw.received()).toMatch(/^HTTP\/1\.1 403/);
    expect(Number((await t.app.dataSource.query('SELECT COUNT(*) AS n FROM code_uploads'))[0].n)).toBe(uploadsBefore);
  });

  it('cuts off an authenticated request whose body does not arrive within HTTP_REQUEST_TIMEOUT_MS', async () => {
    const raw = await rawSocket(t);
    raw.socket.write(
      `POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TEST_ADMIN_KEY}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"query":`,
    );
    await eventually(() => raw.closed(), 10_000, 'the stalled request closed');
    expect(raw.received()).toBe('');
  });

  it('answers a body that is not JSON, or too large, in JSON words without a stack trace', async () => {
    const post = (body: string) =>
      fetch(`${t.baseUrl}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_ADMIN_KEY}` }, body });
    const broken = await post('{"query": "{ __typename }",');
    expect(broken.status).toBe(400);
    const text = await broken.text();
    expect(JSON.parse(text).errors[0]).toEqual({ message: 'The request body is not valid JSON', extensions: { code: 'BAD_REQUEST' } });
    expect(text).not.toMatch(/node_modules|at JSON\.parse/);
    const huge = await post(JSON.stringify({ query: '{ __typename }', variables: { pad: 'x'.repeat(3 * 1024 * 1024) } }));
    expect(huge.status).toBe(413);
    expect((await huge.json()).errors[0].message).toBe('The request body is too large');
  });

  it('answers a compressed body and a GET query like a plain JSON POST, and refuses them without a key', async () => {
    const auth = { authorization: `Bearer ${TEST_ADMIN_KEY}` };
    const body = gzipSync(JSON.stringify({ query: '{ __typename }' }));
    const compressed = await fetch(`${t.baseUrl}/graphql`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json', 'content-encoding': 'gzip' }, body });
    expect(compressed.status).toBe(200);
    expect(await compressed.json()).toEqual({ data: { __typename: 'Query' } });
    const viaGet = await fetch(`${t.baseUrl}/graphql?query=${encodeURIComponent('{ __typename }')}`, { headers: { ...auth, 'apollo-require-preflight': 'true' } });
    expect(await viaGet.json()).toEqual({ data: { __typename: 'Query' } });
    const anonymous = await fetch(`${t.baseUrl}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body });
    expect(anonymous.status).toBe(401);
  });

  it('closes a 5 MB connection_init (maxPayload) and a socket that never sends connection_init', async () => {
    const huge = openSocket(t, TEST_ADMIN_KEY, JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${TEST_ADMIN_KEY}`, pad: 'x'.repeat(5 * 1024 * 1024) } }));
    await huge.init();
    expect(await huge.closed).toBe(1009);
    expect(huge.messages).toEqual([]);

    const silent = openSocket(t, TEST_ADMIN_KEY);
    await silent.opened;
    expect(await silent.closed).toBe(4408);
  });

  it('caps subscriptions per socket and sockets per key', async () => {
    const viewer = await t.createKey('VIEWER');
    const first = wsClient(t.baseUrl, viewer);
    const results: Array<string | undefined> = [];
    for (let i = 0; i < 4; i++) {
      first.subscribe({ query: LOW_STOCK }, { next: () => undefined, error: (error) => results.push((error as any)[0]?.extensions?.code ?? 'error'), complete: () => undefined });
    }
    await eventually(() => results.length === 1, 10_000, 'the fourth subscription refused');
    expect(results).toEqual(['RATE_LIMITED']);

    const second = openSocket(t, viewer);
    await second.init();
    await eventually(() => second.acknowledged(), 10_000, 'the second socket acknowledged');
    const third = openSocket(t, viewer);
    await third.init();
    expect(await third.closed).toBe(4429);
    // Another key is not held back by this one.
    const other = openSocket(t, TEST_ADMIN_KEY);
    await other.init();
    await eventually(() => other.acknowledged(), 10_000, 'another key acknowledged');
    first.dispose();
    second.socket.close();
    other.socket.close();
  });
});

describe('the connection cap', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ env: { MAX_CONNECTIONS: '20' } });
  });
  afterAll(() => t.destroy());

  it('drops connections over MAX_CONNECTIONS and serves again once they are gone', async () => {
    const sockets = await Promise.all(Array.from({ length: 40 }, () => rawSocket(t)));
    await eventually(() => sockets.filter(({ closed }) => closed()).length >= 20, 10_000, 'the connections over the cap dropped');
    expect(sockets.filter(({ closed }) => !closed()).length).toBeLessThanOrEqual(20);
    sockets.forEach(({ socket }) => socket.destroy());
    await eventually(async () => (await t.gql('{ __typename }').catch(() => null))?.data, 10_000, 'a request served');
    expect(errorCode(await t.gql('{ __typename }', {}, null))).toBe('UNAUTHENTICATED');
  });
});
