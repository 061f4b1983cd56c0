import express from 'express';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mountConsole } from '../../src/infra/http/console-route';
import { createLogger } from '../../src/infra/logging/logger';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { ensureConsoleBuilt } from './console-build';

const get = (url: string) => fetch(url, { redirect: 'manual' });

describe('serving the console', () => {
  let t: TestApp;
  beforeAll(async () => {
    await ensureConsoleBuilt();
    t = await startTestApp();
  });
  afterAll(() => t.destroy());

  it('redirects / to /console/ and serves index.html uncached with a same-origin CSP', async () => {
    const root = await get(`${t.baseUrl}/`);
    expect(root.status).toBe(302);
    expect(root.headers.get('location')).toBe('/console/');
    expect((await get(`${t.baseUrl}/console`)).headers.get('location')).toBe('/console/');

    for (const path of ['/console/', '/console/lists/12', '/console/campaigns']) {
      const page = await get(`${t.baseUrl}${path}`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
      expect(page.headers.get('cache-control')).toBe('no-cache');
      const csp = page.headers.get('content-security-policy')!;
      const host = new URL(t.baseUrl).host;
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain(`connect-src 'self' ws://${host} wss://${host}`);
      expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:\/\//);
      const html = await page.text();
      expect(html).toContain('<div id="app">');
      // Only files of this server: no CDN, no web font.
      expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    }
  });

  it('serves fingerprinted assets as immutable, and 404 for a missing one', async () => {
    const html = await (await get(`${t.baseUrl}/console/`)).text();
    const script = /src="(\/console\/assets\/[^"]+\.js)"/.exec(html)![1]!;
    const asset = await get(`${t.baseUrl}${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(asset.headers.get('content-type')).toMatch(/javascript/);
    expect((await get(`${t.baseUrl}/console/assets/missing-abc123.js`)).status).toBe(404);
    expect(readdirSync(join(__dirname, '..', '..', 'dist', 'console', 'assets')).every((file) => /-[A-Za-z0-9_-]{8}\.(js|css)$/.test(file))).toBe(true);
  });

  it('answers 503 with a page saying how to build when the console is not built', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'console-missing-'));
    const app = express();
    const logged: string[] = [];
    const logger = createLogger('silent');
    const warn = logger.warn.bind(logger);
    logger.warn = ((...args: Parameters<typeof warn>) => {
      logged.push(String(args[args.length - 1]));
      return warn(...args);
    }) as typeof logger.warn;
    mountConsole(app, empty, logger);
    const server: Server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const response = await get(`http://127.0.0.1:${(server.address() as AddressInfo).port}/console/`);
      expect(response.status).toBe(503);
      expect(await response.text()).toContain('npm run build');
      expect(logged.join('\n')).toMatch(/admin console not built/);
    } finally {
      server.close();
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
