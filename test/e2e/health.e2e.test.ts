import { startTestApp, type TestApp } from '../helpers/test-app';

describe('health and metrics', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.destroy());

  it('is live and ready while MySQL and Redis answer', async () => {
    expect((await fetch(`${t.baseUrl}/health/live`)).status).toBe(200);
    const ready = await fetch(`${t.baseUrl}/health/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', mysql: 'ok', redis: 'ok' });
  });

  it('serves Prometheus metrics with request counts', async () => {
    await t.gql('{ couponLists { totalCount } }');
    const response = await fetch(`${t.baseUrl}/metrics`);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const text = await response.text();
    expect(text).toMatch(/http_requests_total\{route="\/graphql",method="POST",status="200"\} \d+/);
    expect(text).toContain('http_request_duration_seconds_bucket');
    expect(text).toContain('process_resident_memory_bytes');
  });

  it('answers 503 on /health/ready when Redis is unreachable', async () => {
    t.app.redis.disconnect();
    const response = await fetch(`${t.baseUrl}/health/ready`);
    expect(response.status).toBe(503);
    // The failing part by name; the driver's error text stays in the log.
    expect(await response.json()).toEqual({ status: 'unavailable', mysql: 'ok', redis: 'unavailable' });
    await t.app.redis.connect();
  });
});
