/// <reference lib="dom" />
import type { Browser, Page } from 'playwright-core';
import { startTestApp, TEST_ADMIN_KEY, type TestApp } from '../helpers/test-app';
import { WebhookReceiver } from '../webhooks/webhook-receiver';
import { describeInBrowser, launchBrowser, newPage, screenshot, signIn } from './browser';
import { ensureConsoleBuilt } from './console-build';
import { claim, createCampaign, createUniqueList, eventually } from '../helpers/fixtures';

describeInBrowser('console: redemption figures and webhooks', () => {
  let t: TestApp;
  let browser: Browser;
  let receiver: WebhookReceiver;
  const contexts: Array<{ close(): Promise<void> }> = [];

  beforeAll(async () => {
    await ensureConsoleBuilt();
    receiver = new WebhookReceiver();
    await receiver.start();
    [t, browser] = await Promise.all([startTestApp({ env: { WEBHOOK_SWEEP_INTERVAL_MS: '300' } }), launchBrowser()]);
  });
  afterAll(async () => {
    await Promise.all(contexts.map((context) => context.close()));
    await browser?.close();
    await t?.destroy();
    await receiver?.stop();
  });

  async function signedIn(): Promise<Page> {
    const opened = await newPage(browser, t.baseUrl);
    contexts.push(opened.context);
    await signIn(opened.page, t.baseUrl, TEST_ADMIN_KEY);
    return opened.page;
  }

  const text = async (page: Page, label: string, expected: RegExp) =>
    eventually(async () => {
      const value = ((await page.getByRole('group', { name: label }).textContent()) ?? '').replace(/\s+/g, ' ').trim();
      return expected.test(value) ? value : null;
    }, 15_000, `${label} to show ${expected}`);

  it("a list's page shows its conversion: redeemed of assigned", async () => {
    const listId = await createUniqueList(t, 'Converting', ['CONV-1', 'CONV-2', 'CONV-3', 'CONV-4']);
    const campaignId = await createCampaign(t, [listId]);
    const codes: string[] = [];
    for (const userId of ['c1', 'c2', 'c3', 'c4']) codes.push((await claim(t, { campaignId, userId })).data.claimCoupon.code);
    const redeem = `mutation($input: RedeemCouponInput!) { redeemCoupon(input: $input) { id } }`;
    expect((await t.gql(redeem, { input: { code: codes[0], userId: 'c1' } })).errors).toBeUndefined();

    const page = await signedIn();
    await page.goto(`${t.baseUrl}/console/lists/${listId}`);
    await page.getByRole('heading', { name: 'Converting' }).waitFor();
    expect(await text(page, 'Conversion', /1 redeemed of 4 assigned \(25 %\)/)).toBeTruthy();

    expect((await t.gql(redeem, { input: { code: codes[1], userId: 'c2' } })).errors).toBeUndefined();
    await page.reload();
    expect(await text(page, 'Conversion', /2 redeemed of 4 assigned \(50 %\)/)).toBeTruthy();
    await screenshot(page, 'list-conversion');
  });

  it('the Webhooks page creates an endpoint (secret shown once), lists its deliveries and redelivers one', async () => {
    const page = await signedIn();
    await page.getByRole('link', { name: 'Webhooks', exact: true }).click();
    await page.getByRole('heading', { name: 'Webhooks' }).waitFor();
    await page.getByLabel('Endpoint URL').fill(receiver.url('/console'));
    await page.getByLabel('Description').fill('CRM');
    await page.getByLabel('Coupon assigned').check();
    await page.getByRole('button', { name: 'Create endpoint' }).click();
    const secret = ((await page.locator('.secret-value').textContent()) ?? '').trim();
    expect(secret).toMatch(/^whsec_/);
    receiver.route('/console', secret);
    await page.getByRole('button', { name: 'Done' }).click();
    expect(await page.locator('.secret-value').count()).toBe(0);
    await page.getByRole('row', { name: new RegExp(receiver.url('/console')) }).waitFor();

    // A claim makes a coupon.assigned message, signed with the secret the page showed.
    const listId = await createUniqueList(t, 'Hooked from console', ['CONSOLE-HOOK-1']);
    await claim(t, { campaignId: await createCampaign(t, [listId]), userId: 'console-user' });
    await receiver.waitFor(() => receiver.at('/console').length === 1, 'the delivery');
    const [first] = receiver.at('/console');
    expect(first.verifyError).toBeNull();

    await page.getByRole('button', { name: 'Deliveries' }).click();
    const deliveries = page.getByRole('table', { name: /Deliveries to/ });
    await deliveries.getByRole('row').filter({ hasText: 'Delivered' }).waitFor();
    await page.getByRole('button', { name: new RegExp(`Redeliver .* ${first.id}`) }).click();
    await page.getByRole('status').filter({ hasText: 'again' }).waitFor();
    await receiver.waitFor(() => receiver.at('/console').length === 2, 'the redelivery');
    expect(receiver.at('/console')[1].id).toBe(first.id);
    expect(receiver.at('/console')[1].verifyError).toBeNull();
    await screenshot(page, 'webhooks');
  });
});
