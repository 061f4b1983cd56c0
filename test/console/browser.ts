import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { findChromium, launchChromium } from '../../bench/lib/chromium';

export const CHROMIUM = findChromium();

/**
 * `describe` for browser tests: without Chromium they are skipped with one line, except under
 * CI=true, where a missing Chromium fails.
 */
export function describeInBrowser(name: string, body: () => void): void {
  if (CHROMIUM) return describe(name, body);
  const reason = `no Chromium at ${process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'} (apt-get install chromium, or set CHROMIUM_PATH)`;
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('needs Chromium under CI', () => {
        throw new Error(`browser tests cannot run: ${reason}`);
      });
    });
    return;
  }
  process.stderr.write(`browser tests skipped: ${reason}\n`);
  describe.skip(name, body);
}

export const launchBrowser = (): Promise<Browser> => launchChromium(CHROMIUM!);

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

/** A fresh tab (own sessionStorage); any request leaving the test server fails the page. */
export async function newPage(browser: Browser, baseUrl: string, viewport = DESKTOP): Promise<{ context: BrowserContext; page: Page; foreignRequests: string[] }> {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  const page = await context.newPage();
  const foreignRequests: string[] = [];
  const origin = new URL(baseUrl);
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (url.protocol === 'data:') return;
    if (url.host !== origin.host) foreignRequests.push(request.url());
  });
  return { context, page, foreignRequests };
}

const ARTIFACTS = join(__dirname, '..', '..', 'test-artifacts', 'console');

/** Keeps a screenshot of the page for people to look at (test-artifacts/ is git-ignored). */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

export async function signIn(page: Page, baseUrl: string, key: string): Promise<void> {
  await page.goto(`${baseUrl}/console/`);
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}
