import type { Browser } from 'playwright-core';
import { dropDatabase, startTestApp, type TestApp } from '../helpers/test-app';
import { describeInBrowser, launchBrowser, newPage, signIn } from './browser';
import { ensureConsoleBuilt } from './console-build';
import { TEST_ADMIN_KEY } from '../helpers/test-app';
import { claim, codesNamed, createCampaign, createUniqueList, eventually } from '../helpers/fixtures';

describeInBrowser('console WebSocket away and back', () => {
  let first: TestApp;
  let second: TestApp | undefined;
  let browser: Browser;

  beforeAll(async () => {
    await ensureConsoleBuilt();
    [first, browser] = await Promise.all([startTestApp(), launchBrowser()]);
  });
  afterAll(async () => {
    await browser?.close();
    await second?.stop();
    await first?.destroy();
    if (second) await dropDatabase(first.databaseUrl);
  });

  it('says so while the server is away, reconnects by itself and shows live figures again', async () => {
    const listId = await createUniqueList(first, 'Comes back', codesNamed('BACK', 10));
    const campaignId = await createCampaign(first, [listId]);
    const { page } = await newPage(browser, first.baseUrl);
    await signIn(page, first.baseUrl, TEST_ADMIN_KEY);
    const row = page.getByRole('table').getByRole('row').filter({ has: page.getByRole('link', { name: 'Comes back' }) });
    const available = row.getByRole('cell').nth(0);
    await eventually(async () => (await available.textContent()) === '10', 15_000, 'the first figure');
    const banner = page.locator('.banner');

    const port = new URL(first.baseUrl).port;
    await first.stop();
    await eventually(async () => /disconnected: reconnecting/.test((await banner.textContent()) ?? ''), 15_000, 'the reconnecting banner');

    // The same deployment comes back on the same port; a claim made meanwhile is on the page after the reconnect.
    second = await startTestApp({ shareWith: { databaseUrl: first.databaseUrl, queuePrefix: first.queuePrefix }, env: { PORT: port } });
    expect((await claim(second, { campaignId, userId: 'while-away' })).errors).toBeUndefined();
    await eventually(async () => (await banner.count()) === 0, 30_000, 'the banner to go');
    await eventually(async () => (await available.textContent()) === '9', 15_000, 'the figure reloaded after the reconnect');
    expect((await claim(second, { campaignId, userId: 'after' })).errors).toBeUndefined();
    await eventually(async () => (await available.textContent()) === '8', 15_000, 'a live figure after the reconnect');
    expect(page.url()).toBe(`${first.baseUrl}/console/`);
  });
});
