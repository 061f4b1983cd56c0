import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config/config';
import { DEV_ADMIN_KEY } from '../../src/modules/auth/api-key.service';
import { requestExport, waitForExport } from '../exports/fixtures';
import { errorCode, wsClient } from '../helpers/graphql-client';
import { startTestApp, TEST_ADMIN_KEY, type TestApp } from '../helpers/test-app';
import { claim, createCampaign, createUniqueList, eventually } from '../helpers/fixtures';

const METRICS_TOKEN = 'metrics-token-0123456789abcdef';
const HISTORY = 'history { kind channel outcome httpStatus error }';

/** Log lines of an app, as JSON text. */
function logCapture() {
  const lines: string[] = [];
  return { lines, destination: { write: (line: string) => void lines.push(line) } };
}

function exportLink(t: TestApp, id: string, headers: Record<string, string>) {
  return fetch(`${t.baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_ADMIN_KEY}`, ...headers },
    body: JSON.stringify({ query: 'query($id: ID!) { couponUsageExport(id: $id) { downloadUrl } }', variables: { id } }),
  }).then(async (response) => ((await response.json()) as any).data.couponUsageExport.downloadUrl as string);
}

describe('what a production deployment gives away', () => {
  let t: TestApp;
  const log = logCapture();
  beforeAll(async () => {
    t = await startTestApp({
      env: { NODE_ENV: 'production', TRUST_PROXY: 'loopback', METRICS_TOKEN, LOG_LEVEL: 'info' },
      logDestination: log.destination,
    });
  });
  afterAll(() => t.destroy());

  it('shows delivery internals in history only to READ_ALL keys', async () => {
    const listId = await createUniqueList(t, 'history', ['H-1']);
    const campaignId = await createCampaign(t, [listId]);
    const client = await t.createKey('CLIENT');
    const assignment = (await claim(t, { campaignId, userId: 'h-user' }, client)).data.claimCoupon;
    await t.app.dataSource.query(
      "INSERT INTO delivery_attempts (assignment_id, channel, attempt, outcome, http_status, error, at) VALUES (?, 'SMS', 1, 'RETRY', 502, 'gateway 10.1.2.3 said: upstream account 4711 suspended', UTC_TIMESTAMP(3))",
      [assignment.id],
    );
    const forClient = await t.gql(`mutation($input: ClaimCouponInput!) { claimCoupon(input: $input) { reused ${HISTORY} } }`, { input: { campaignId, userId: 'h-user' } }, client);
    const delivery = forClient.data.claimCoupon.history.find((event: { kind: string }) => event.kind === 'DELIVERY');
    expect(delivery).toEqual({ kind: 'DELIVERY', channel: 'SMS', outcome: 'RETRY', httpStatus: null, error: null });
    for (const key of [await t.createKey('VIEWER'), TEST_ADMIN_KEY]) {
      const forDashboard = await t.gql(`{ userCoupons(userId: "h-user") { ${HISTORY} } }`, {}, key);
      expect(forDashboard.data.userCoupons[0].history.find((event: { kind: string }) => event.kind === 'DELIVERY')).toMatchObject({ httpStatus: 502, error: expect.stringContaining('suspended') });
    }
  });

  it('needs METRICS_TOKEN for /metrics', async () => {
    expect((await fetch(`${t.baseUrl}/metrics`)).status).toBe(401);
    expect((await fetch(`${t.baseUrl}/metrics`, { headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` } })).status).toBe(401);
    const allowed = await fetch(`${t.baseUrl}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(allowed.status).toBe(200);
    expect(await allowed.text()).toContain('http_requests_total');
  });

  it('answers no introspection in production, over HTTP or WebSocket', async () => {
    const http = await t.gql('{ __schema { types { name } } }');
    expect(http.status).toBe(400);
    expect(http.data).toBeUndefined();
    const client = wsClient(t.baseUrl, TEST_ADMIN_KEY);
    try {
      const ws = await new Promise<any>((resolve) =>
        client.subscribe({ query: '{ __schema { types { name } } }' }, { next: resolve, error: (errors) => resolve({ errors }), complete: () => undefined }),
      );
      expect(ws.data).toBeUndefined();
      expect(JSON.stringify(ws.errors)).toMatch(/introspection/i);
    } finally {
      await client.dispose();
    }
  });

  it('writes no user id, phone number, SQL or parameters to the log of a failing request', async () => {
    await t.app.dataSource.query('RENAME TABLE user_profiles TO user_profiles_away');
    const from = log.lines.length;
    try {
      const failing = await t.gql('mutation($input: UserProfileInput!) { upsertUserProfile(input: $input) { userId } }', {
        input: { userId: 'secret-shopper-qzxw@example.com', phoneNumber: '+4915112345678', externalId: 'crm-998877' },
      });
      expect(errorCode(failing)).toBe('INTERNAL_SERVER_ERROR');
      await eventually(() => log.lines.slice(from).some((line) => line.includes('unexpected error')), 5_000, 'the error logged');
    } finally {
      await t.app.dataSource.query('RENAME TABLE user_profiles_away TO user_profiles');
    }
    const written = log.lines.slice(from).join('');
    for (const secret of ['secret-shopper', 'qzxw', '+4915112345678', '15112345678', 'crm-998877', 'INSERT INTO', 'user_profiles (']) {
      expect({ secret, found: written.includes(secret) }).toEqual({ secret, found: false });
    }
    expect(written).toContain('"errno":1146');
  });

  it('builds links with the scheme and host of a TRUST_PROXY proxy', async () => {
    const listId = await createUniqueList(t, 'links', ['L-1']);
    const requested = await requestExport(t, { listId });
    const done = await waitForExport(t, requested.data.exportCouponUsage.id);
    expect(done.status).toBe('COMPLETED');
    const link = await exportLink(t, done.id, { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'coupons.example.com' });
    expect(link.startsWith(`https://coupons.example.com/exports/${done.id}/download?`)).toBe(true);
  });
});

describe('forwarded headers without TRUST_PROXY', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.destroy());

  it('are ignored: a client cannot make links point elsewhere', async () => {
    const listId = await createUniqueList(t, 'links', ['L-1']);
    const done = await waitForExport(t, (await requestExport(t, { listId })).data.exportCouponUsage.id);
    const link = await exportLink(t, done.id, { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example' });
    expect(link.startsWith(`${t.baseUrl}/exports/`)).toBe(true);
  });
});

describe('the development key', () => {
  it('is not accepted with HOST set beyond loopback', () => {
    expect(() => loadConfig({ HOST: '0.0.0.0' })).toThrow(ConfigError);
    expect(() => loadConfig({ HOST: '0.0.0.0' })).toThrow(/HOST: the development admin key is accepted/);
    expect(loadConfig({}).HOST).toBe('127.0.0.1');
    expect(loadConfig({ ADMIN_API_KEY: 'a-real-key-0123456789' }).HOST).toBe('0.0.0.0');
    expect(loadConfig({ ADMIN_API_KEY: 'a-real-key-0123456789', HOST: '10.0.0.1' }).HOST).toBe('10.0.0.1');
  });

  it('makes the server listen on 127.0.0.1 only, and say so', async () => {
    const log = logCapture();
    const t = await startTestApp({ env: { ADMIN_API_KEY: '', NODE_ENV: 'development', LOG_LEVEL: 'info' }, logDestination: log.destination });
    try {
      expect(t.app.config.HOST).toBe('127.0.0.1');
      expect((await t.gql('{ __typename }', {}, DEV_ADMIN_KEY)).status).toBe(200);
      expect(log.lines.join('')).toMatch(/development admin key .* is accepted.*listens on 127\.0\.0\.1 only/);
      const external = Object.values(networkInterfaces()).flat().find((address) => address && address.family === 'IPv4' && !address.internal);
      if (!external) {
        console.log('no non-loopback IPv4 address on this machine: the listen address is checked by config only');
        return;
      }
      const { port } = new URL(t.baseUrl);
      const refused = await new Promise<string>((resolve) => {
        const socket = connect(Number(port), external.address, () => resolve('connected'));
        socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
      });
      expect(refused).toBe('ECONNREFUSED');
    } finally {
      await t.destroy();
    }
  });

  it('cannot come from docker compose: it refuses to start without ADMIN_API_KEY', () => {
    const compose = readFileSync(join(__dirname, '..', '..', 'docker-compose.yml'), 'utf8');
    expect(compose).toMatch(/ADMIN_API_KEY: \$\{ADMIN_API_KEY:\?[^}]+\}/);
    expect(compose).not.toMatch(/ADMIN_API_KEY:-/);
  });
});
