import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { RESPONSE_BYTES, WebhookHttpClient } from '../../src/modules/webhooks/webhook-http-client';
import { firstNonPublicAddress, isNonPublicAddress, webhookUrlProblem } from '../../src/modules/webhooks/webhook-url-policy';

/** A real HTTP server answering by path: slowly, with a big body, with a redirect. */
describe('the webhook HTTP client', () => {
  let server: http.Server;
  let base: string;
  const hits: string[] = [];

  beforeAll(async () => {
    server = http.createServer((request, response) => {
      hits.push(request.url!);
      request.resume();
      if (request.url === '/slow') return void setTimeout(() => response.writeHead(200).end('late'), 2000).unref();
      if (request.url === '/big') return void response.writeHead(500).end('x'.repeat(1024 * 1024));
      if (request.url === '/redirect') return void response.writeHead(302, { location: '/target' }).end();
      response.writeHead(200).end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const client = () => new WebhookHttpClient(true);

  it('gives up after the timeout', async () => {
    const c = client();
    await expect(c.post(new URL(`${base}/slow`), {}, '{}', 200)).rejects.toThrow('no answer within 200 ms');
    c.close();
  });

  it('reads only the first few kB of an answer', async () => {
    const c = client();
    const response = await c.post(new URL(`${base}/big`), {}, '{}', 5000);
    expect(response.status).toBe(500);
    expect(response.excerpt.length).toBeLessThanOrEqual(RESPONSE_BYTES);
    c.close();
  });

  it('does not follow redirects', async () => {
    const c = client();
    const before = hits.length;
    expect((await c.post(new URL(`${base}/redirect`), {}, '{}', 5000)).status).toBe(302);
    expect(hits.slice(before)).toEqual(['/redirect']);
    c.close();
  });

  it('refuses private, loopback and link-local targets unless allowed, by literal address and by resolved name', async () => {
    const strict = new WebhookHttpClient(false);
    const before = hits.length;
    await expect(strict.post(new URL(`${base}/ok`), {}, '{}', 5000)).rejects.toThrow('non-public address');
    const port = new URL(base).port;
    await expect(strict.post(new URL(`http://localhost:${port}/ok`), {}, '{}', 5000)).rejects.toThrow(/resolves to the non-public address/);
    expect(hits.length).toBe(before);
    strict.close();
    for (const address of ['127.0.0.1', '10.1.2.3', '172.20.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1']) {
      expect([address, isNonPublicAddress(address)]).toEqual([address, true]);
    }
    for (const address of ['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111']) expect([address, isNonPublicAddress(address)]).toEqual([address, false]);
    expect(await firstNonPublicAddress(new URL('http://localhost/'))).toMatch(/^(127\.0\.0\.1|::1)$/);
    expect(await firstNonPublicAddress(new URL('http://[::1]:8080/'))).toBe('::1');
    expect(webhookUrlProblem('ftp://example.com')).toBe('must be an http or https URL');
    expect(webhookUrlProblem('https://example.com/hooks')).toBeNull();
  });
});
