/// <reference lib="dom" />
// page.evaluate() callbacks run in the browser.
import { readFileSync } from 'node:fs';
import type { Browser, Locator, Page } from 'playwright-core';
import { startTestApp, TEST_ADMIN_KEY, type TestApp } from '../helpers/test-app';
import { describeInBrowser, launchBrowser, newPage, PHONE, screenshot, signIn } from './browser';
import { ensureConsoleBuilt } from './console-build';
import { claim, codesNamed, createCampaign, createUniqueList, eventually } from '../helpers/fixtures';

/** The text of a locator, trimmed; waits until `expected` matches it. */
async function waitForText(locator: Locator, expected: string | RegExp, timeoutMs = 15_000): Promise<string> {
  return eventually(
    async () => {
      const text = ((await locator.textContent({ timeout: timeoutMs })) ?? '').trim();
      return (typeof expected === 'string' ? text === expected : expected.test(text)) ? text : null;
    },
    timeoutMs,
    `${String(locator)} to show ${String(expected)}`,
  );
}

/** A row of the lists table, found by the list's name; its cells: Available, bar, Total, Expires, Status, Warning limit. */
const listRow = (page: Page, name: string) => page.getByRole('table').getByRole('row').filter({ has: page.getByRole('link', { name, exact: true }) });

describeInBrowser('admin console in a real browser', () => {
  let t: TestApp;
  let browser: Browser;
  const pages: Array<{ close(): Promise<void> }> = [];
  const foreign: string[] = [];

  beforeAll(async () => {
    await ensureConsoleBuilt();
    [t, browser] = await Promise.all([startTestApp(), launchBrowser()]);
  });
  afterAll(async () => {
    await Promise.all(pages.map((context) => context.close()));
    await browser?.close();
    await t?.destroy();
  });
  afterEach(() => {
    // No request may leave the machine (no CDN, web font or analytics).
    expect(foreign).toEqual([]);
  });

  async function open(viewport?: { width: number; height: number }) {
    const opened = await newPage(browser, t.baseUrl, viewport);
    pages.push(opened.context);
    opened.page.on('request', () => foreign.push(...opened.foreignRequests.splice(0)));
    return opened.page;
  }

  async function signedIn(key = TEST_ADMIN_KEY, viewport?: { width: number; height: number }) {
    const page = await open(viewport);
    await signIn(page, t.baseUrl, key);
    return page;
  }

  it('refuses a wrong key and a CLIENT key with a message, signs in and out', async () => {
    const page = await open();
    await page.goto(t.baseUrl);
    await page.getByRole('heading', { name: 'Coupon lists console' }).waitFor();
    await screenshot(page, 'sign-in');

    await page.getByLabel('API key').fill('not-a-real-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await waitForText(page.getByRole('alert'), /not valid/);
    expect(await page.getByRole('button', { name: 'Sign out' }).count()).toBe(0);

    await page.getByLabel('API key').fill(await t.createKey('CLIENT'));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await waitForText(page.getByRole('alert'), /CLIENT key/);

    await page.getByLabel('API key').fill(TEST_ADMIN_KEY);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Coupon lists' }).waitFor();
    for (const name of ['Lists', 'Campaigns', 'Users', 'API keys', 'Webhooks']) await page.getByRole('link', { name, exact: true }).waitFor();
    // The key is kept in sessionStorage only: never in the URL or a cookie.
    expect(page.url()).not.toContain(TEST_ADMIN_KEY);
    expect(await page.context().cookies()).toEqual([]);
    expect(await page.evaluate(() => JSON.stringify(sessionStorage))).toContain(TEST_ADMIN_KEY);

    // A reload keeps the session of this tab.
    await page.reload();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').waitFor();
    expect(await page.evaluate(() => JSON.stringify(sessionStorage))).not.toContain(TEST_ADMIN_KEY);
  });

  it('a revoked key returns the user to sign-in with the reason', async () => {
    const created = await t.gql(`mutation { createApiKey(name: "soon revoked", role: ADMIN) { secret apiKey { id } } }`);
    const { secret, apiKey } = created.data.createApiKey;
    const page = await signedIn(secret);
    await t.gql(`mutation($id: ID!) { revokeApiKey(id: $id) { id } }`, { id: apiKey.id });
    // The server closes the revoked key's WebSocket (4403): the page goes back to sign-in by itself.
    await page.getByLabel('API key').waitFor();
    await waitForText(page.getByRole('status').filter({ hasText: 'Signed out' }), /revoked/);
  });

  it('creates a list, shows the server’s BAD_USER_INPUT beside the field, and lists it in the table', async () => {
    const page = await signedIn();
    await page.getByRole('button', { name: 'New list' }).click();
    const dialog = page.getByRole('dialog', { name: 'New list' });
    await dialog.getByLabel('Name').fill('Black Friday');
    await dialog.getByLabel('Warning limit').fill('5');
    await dialog.getByLabel('Alert e-mails').fill('ops@example.com, not-an-address');
    await dialog.getByRole('button', { name: 'Create list' }).click();
    const emails = dialog.getByLabel('Alert e-mails');
    await eventually(async () => (await emails.getAttribute('aria-invalid')) === 'true', 15_000, 'the e-mail field marked invalid');
    const describedBy = (await emails.getAttribute('aria-describedby'))!;
    expect(await page.locator(`[id="${describedBy.split(' ').pop()}"]`).textContent()).toMatch(/not-an-address.*not an e-mail address/);

    await emails.fill('ops@example.com');
    await dialog.getByRole('button', { name: 'Create list' }).click();
    await dialog.waitFor({ state: 'hidden' });
    // Focus returns to what opened the dialog.
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('New list');
    const row = listRow(page, 'Black Friday');
    await row.waitFor();
    expect(await row.getByRole('cell').nth(5).textContent()).toBe('5');
    expect(await row.getByRole('cell').nth(4).textContent()).toBe('Exhausted');

    // A FIXED list: its code and limit are required by the server, and named beside the field.
    await page.getByRole('button', { name: 'New list' }).click();
    await dialog.getByLabel('Name').fill('Welcome');
    await dialog.getByLabel('Fixed code (one code for everyone, up to a limit)').check();
    await dialog.getByLabel('Fixed code', { exact: true }).fill('WELCOME10');
    await dialog.getByRole('button', { name: 'Create list' }).click();
    await eventually(async () => (await dialog.getByLabel('Fixed limit').getAttribute('aria-invalid')) === 'true', 15_000, 'the limit field marked invalid');
    await dialog.getByLabel('Fixed limit').fill('1000');
    await dialog.getByRole('button', { name: 'Create list' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await waitForText(listRow(page, 'Welcome').getByRole('cell').nth(0), '1,000');

    // Search narrows the table.
    await page.getByRole('searchbox', { name: 'Search lists' }).fill('friday');
    await eventually(async () => (await listRow(page, 'Welcome').count()) === 0, 15_000, 'the search to hide other lists');
    expect(await listRow(page, 'Black Friday').count()).toBe(1);
  });

  it('uploads a file with good, duplicate and bad lines: progress, counts and rejected lines', async () => {
    const listId = await createUniqueList(t, 'Spring sale', ['EXISTING-1']);
    const page = await signedIn();
    await page.goto(`${t.baseUrl}/console/lists/${listId}`);
    await page.getByRole('heading', { name: 'Spring sale', level: 1 }).waitFor();
    await page.getByRole('button', { name: 'Upload codes' }).click();
    expect(await page.getByRole('radio', { name: 'Append' }).isChecked()).toBe(true);
    // Record every progress bar shown, however briefly.
    await page.evaluate(() => {
      const seen: string[] = ((window as unknown as { progressSeen: string[] }).progressSeen = []);
      new MutationObserver(() => {
        for (const bar of document.querySelectorAll('progress, [role="progressbar"]')) if (!seen.includes(bar.id)) seen.push(bar.id);
      }).observe(document.body, { subtree: true, childList: true });
    });
    // Choosing the file starts the upload.
    await page.getByLabel('Code file').setInputFiles({
      name: 'spring.txt',
      mimeType: 'text/plain',
      buffer: Buffer.from('SPRING-1\nSPRING-2\nEXISTING-1\nSPRING-1\nbad,line\nspace inside\n\nSPRING-3\n'),
    });
    const counts = page.locator('dl.counts');
    await counts.waitFor({ timeout: 30_000 });
    expect(await page.evaluate(() => (window as unknown as { progressSeen: string[] }).progressSeen)).toContain('upload-bytes');
    expect(await page.getByRole('progressbar').count()).toBe(0);
    const count = (term: string) => counts.locator('div').filter({ has: page.locator('dt', { hasText: term }) }).locator('dd').textContent();
    expect(await count('Added')).toBe('3');
    expect(await count('Duplicates')).toBe('2');
    expect(await count('Rejected')).toBe('2');
    const rejected = page.getByRole('table', { name: 'Rejected lines' });
    const rows = await rejected.getByRole('row').allTextContents();
    expect(rows.slice(1)).toEqual([expect.stringMatching(/^5.*comma/i), expect.stringMatching(/^6.*white space/i)]);
    await waitForText(page.locator('.figure'), '4');
    await screenshot(page, 'list-page-after-upload');

    // Replace asks first, saying how many unassigned codes go.
    await page.getByRole('radio', { name: 'Replace' }).check();
    await page.getByLabel('Code file').setInputFiles({ name: 'new.txt', mimeType: 'text/plain', buffer: Buffer.from('NEW-1\n') });
    const confirm = page.getByRole('dialog', { name: 'Replace the codes?' });
    await waitForText(confirm.getByRole('paragraph'), /removes the 4 unassigned codes/);
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    await confirm.waitFor({ state: 'hidden' });
    expect(await page.locator('.figure').textContent()).toBe('4');

    // A file dropped on the zone is uploaded too (here appended).
    await page.getByRole('radio', { name: 'Append' }).check();
    await page.evaluate(() => {
      const transfer = new DataTransfer();
      transfer.items.add(new File(['DROPPED-1\nDROPPED-2\n'], 'dropped.txt', { type: 'text/plain' }));
      document.querySelector('.drop-zone')!.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
    });
    await waitForText(page.locator('.upload-result p').first(), 'dropped.txt is loaded.');
    await waitForText(page.locator('.figure'), '6');

    // The upload history lists both, newest first.
    const history = page.getByRole('table', { name: 'Uploads of this list' }).getByRole('row');
    await waitForText(history.nth(1), /dropped\.txt.*Completed/);
    await waitForText(history.nth(2), /spring\.txt.*Completed/);
  });

  it('edits a list’s settings, and says in words that a delivery channel is not integrated', async () => {
    const listId = await createUniqueList(t, 'To edit', ['EDIT-1']);
    await t.gql(`mutation { createTransactionalMessage(input: { channel: SMS, name: "Welcome SMS", body: "Your code {couponcode}" }) { id } }`);
    const page = await signedIn();
    await page.goto(`${t.baseUrl}/console/lists/${listId}`);
    await page.getByRole('heading', { name: 'To edit', level: 1 }).waitFor();
    const settings = page.getByRole('region', { name: 'Settings' });
    await settings.getByLabel('Name').fill('Edited name');
    await settings.getByLabel('Warning limit').fill('ten');
    await settings.getByRole('button', { name: 'Save changes' }).click();
    await eventually(async () => (await settings.getByLabel('Warning limit').getAttribute('aria-invalid')) === 'true', 15_000, 'the limit marked invalid');
    await settings.getByLabel('Warning limit').fill('10');
    await settings.getByLabel('Expires at').fill('2031-05-01T12:00');
    await settings.getByRole('button', { name: 'Save changes' }).click();
    await page.getByRole('heading', { name: 'Edited name', level: 1 }).waitFor();
    const saved = (await t.gql(`query($id: ID!) { couponList(id: $id) { name warningLimit expiresAt } }`, { id: listId })).data.couponList;
    expect(saved).toEqual({ name: 'Edited name', warningLimit: 10, expiresAt: expect.stringMatching(/^2031-05-01T/) });
    await waitForText(page.locator('.figures'), /expires May 1, 2031.*\(in \d+ years\)/);

    const delivery = page.getByRole('region', { name: 'Delivery' });
    await delivery.getByLabel('Send new codes by SMS').check();
    await delivery.getByLabel('SMS message').selectOption({ label: 'Welcome SMS' });
    await delivery.getByRole('button', { name: 'Save delivery settings' }).click();
    await waitForText(delivery.getByRole('alert'), /SMS channel is not integrated/);
    expect(await delivery.getByRole('alert').textContent()).not.toMatch(/object Object|Error:|at /);
  });

  it('creates and edits a transactional message', async () => {
    const page = await signedIn();
    await page.getByRole('link', { name: 'Messages', exact: true }).click();
    await page.getByLabel('Channel').selectOption('PUSH');
    await page.getByRole('textbox', { name: 'Message name' }).first().fill('Push welcome');
    await page.getByRole('textbox', { name: 'Text' }).first().fill('Here is {couponcode}');
    await page.getByRole('button', { name: 'Create message' }).click();
    const card = page.getByRole('form', { name: 'Message Push welcome' });
    await card.waitFor();
    await card.getByRole('textbox', { name: 'Text' }).fill('Your code: {couponcode}');
    await card.getByRole('button', { name: 'Save message' }).click();
    await card.getByText('Saved.').waitFor();
    const messages = (await t.gql(`query { transactionalMessages(channel: PUSH) { name body active } }`)).data.transactionalMessages;
    expect(messages).toContainEqual({ name: 'Push welcome', body: 'Your code: {couponcode}', active: true });
  });

  it('shows claims made over the API live, without reload; a low-stock alert appears on the page', async () => {
    const listId = await createUniqueList(t, 'Live stock', codesNamed('LIVE', 20), { warningLimit: 15 });
    const campaignId = await createCampaign(t, [listId]);
    const page = await signedIn();
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
    const available = listRow(page, 'Live stock').getByRole('cell').nth(0);
    await waitForText(available, '20');

    for (let i = 0; i < 3; i++) expect((await claim(t, { campaignId, userId: `live-${i}` })).errors).toBeUndefined();
    await waitForText(available, '17');

    // Down to the warning limit: the alert names the list, on whatever page is open.
    await page.getByRole('link', { name: 'Users', exact: true }).click();
    for (let i = 3; i < 6; i++) expect((await claim(t, { campaignId, userId: `live-${i}` })).errors).toBeUndefined();
    const alert = page.getByRole('alert').filter({ hasText: 'Live stock' });
    await waitForText(alert, /Low stock: Live stock has 1[45] codes left/);
    await screenshot(page, 'low-stock-alert');
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42);

    // The list's own page follows too, with a run-out estimate from the live updates.
    await page.getByRole('link', { name: 'Lists', exact: true }).click();
    await listRow(page, 'Live stock').getByRole('link', { name: 'Live stock' }).click();
    await waitForText(page.locator('.figure'), '14');
    for (let i = 6; i < 8; i++) expect((await claim(t, { campaignId, userId: `live-${i}` })).errors).toBeUndefined();
    await waitForText(page.locator('.figure'), '12');
    await waitForText(page.locator('.depletion'), /^At the last hour's rate .*runs out in about/);
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42);
  });

  it('shows a campaign finishing live, and finishes one with confirmation', async () => {
    const listId = await createUniqueList(t, 'Campaign stock', codesNamed('CAMP', 5));
    const live = await createCampaign(t, [listId]);
    const byHand = await createCampaign(t, [listId]);
    const page = await signedIn();
    await page.getByRole('link', { name: 'Campaigns', exact: true }).click();
    const rowOf = (id: string) => page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: `Campaign over ${listId}` }) }).nth(id === byHand ? 0 : 1);
    await waitForText(rowOf(live).getByRole('cell').nth(1), 'Active');

    await t.gql(`mutation($id: ID!) { finishCampaign(id: $id) { id } }`, { id: live });
    await waitForText(rowOf(live).getByRole('cell').nth(1), /^Finished/);
    expect(await rowOf(live).getByRole('cell').nth(2).textContent()).toBe('Finished by hand');

    // Create one from the page: name, kind and its lists in order.
    await page.getByRole('button', { name: 'New campaign' }).click();
    const form = page.getByRole('dialog', { name: 'New campaign' });
    await form.getByLabel('Campaign name').fill('Wheel of spring');
    await form.getByLabel('Kind').selectOption('SPIN_TO_WIN');
    await form.getByLabel('Find lists').fill('Campaign stock');
    await form.getByLabel('List to add').selectOption({ label: 'Campaign stock (Active)' });
    await form.getByRole('button', { name: 'Add list' }).click();
    await form.getByRole('button', { name: 'Create campaign' }).click();
    await form.waitFor({ state: 'hidden' });
    const wheel = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: 'Wheel of spring' }) });
    await waitForText(wheel.getByRole('cell').nth(0), 'Spin to win');
    expect(await wheel.getByRole('link', { name: 'Campaign stock' }).count()).toBe(1);

    await rowOf(byHand).getByRole('button', { name: /^Finish/ }).click();
    const confirm = page.getByRole('dialog', { name: 'Finish the campaign?' });
    await confirm.getByRole('button', { name: 'Finish campaign' }).click();
    await confirm.waitFor({ state: 'hidden' });
    await waitForText(rowOf(byHand).getByRole('cell').nth(1), /^Finished/);
    await screenshot(page, 'campaigns');
  });

  it('exports usage and downloads the CSV', async () => {
    const listId = await createUniqueList(t, 'Exported', ['EXP-1', 'EXP-2']);
    const campaignId = await createCampaign(t, [listId]);
    await claim(t, { campaignId, userId: 'buyer-1', externalId: 'crm-1' });
    const page = await signedIn();
    await page.goto(`${t.baseUrl}/console/lists/${listId}`);
    await page.getByRole('button', { name: 'Export usage' }).click();
    const link = page.getByRole('link', { name: 'Download CSV' });
    await link.waitFor({ timeout: 30_000 });
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    const csv = readFileSync((await download.path())!, 'utf8').trim().split(/\r?\n/);
    expect(csv[0]).toBe('external_id,user_id,coupon_code,assigned_at,redeemed_at,order_id');
    expect(csv.slice(1)).toEqual([expect.stringMatching(/^crm-1,buyer-1,EXP-1,\d{4}-/)]);
  });

  it('looks up a user’s coupons', async () => {
    const listId = await createUniqueList(t, 'Lookup', ['LOOK-1', 'LOOK-2']);
    const campaignId = await createCampaign(t, [listId]);
    await claim(t, { campaignId, userId: 'customer-1842' });
    await claim(t, { campaignId, userId: 'customer-1842' }); // reused within the window
    const page = await signedIn();
    await page.getByRole('link', { name: 'Users', exact: true }).click();
    await page.getByLabel('User ID').fill('customer-1842');
    await page.getByRole('button', { name: 'Look up' }).click();
    const table = page.getByRole('table', { name: /Coupons of customer-1842/ });
    const rows = table.getByRole('row');
    await waitForText(rows.nth(1).getByRole('cell').nth(0), 'LOOK-1');
    expect(await rows.count()).toBe(2);
    expect(await rows.nth(1).getByRole('cell').nth(1).textContent()).toBe('Lookup');
    expect(await rows.nth(1).getByRole('cell').nth(2).textContent()).toBe(`Campaign over ${listId}`);
    expect(await rows.nth(1).getByRole('cell').nth(5).textContent()).toBe('1');
    await screenshot(page, 'users');

    await page.getByLabel('User ID').fill('nobody');
    await page.getByRole('button', { name: 'Look up' }).click();
    await waitForText(page.getByRole('status').filter({ hasText: 'no coupons' }), 'This user has no coupons.');
  });

  it('a VIEWER key sees everything and no edit controls', async () => {
    const listId = await createUniqueList(t, 'Viewer sees', ['VIEW-1']);
    await createCampaign(t, [listId]);
    const page = await signedIn(await t.createKey('VIEWER'));
    await listRow(page, 'Viewer sees').waitFor();
    expect(await page.getByRole('button', { name: 'New list' }).count()).toBe(0);

    await listRow(page, 'Viewer sees').getByRole('link').click();
    await page.getByRole('heading', { name: 'Viewer sees', level: 1 }).waitFor();
    await page.getByRole('heading', { name: 'Delivery' }).waitFor();
    await page.getByText('SMS: off').waitFor();
    for (const name of ['Upload codes', 'Save changes', 'Save delivery settings']) expect(await page.getByRole('button', { name }).count()).toBe(0);
    expect(await page.getByRole('textbox').count()).toBe(0);
    expect(await page.getByRole('checkbox').count()).toBe(0);

    await page.getByRole('link', { name: 'Campaigns', exact: true }).click();
    await page.getByRole('rowheader', { name: `Campaign over ${listId}` }).waitFor();
    expect(await page.getByRole('button', { name: /Finish|New campaign/ }).count()).toBe(0);
    await page.getByRole('link', { name: 'API keys', exact: true }).click();
    await page.getByText('managed with an ADMIN key').waitFor();
    expect(await page.getByRole('button', { name: /Create|Revoke/ }).count()).toBe(0);
  });

  it('creates an API key (secret shown once) and revokes it', async () => {
    const page = await signedIn();
    await page.getByRole('link', { name: 'API keys', exact: true }).click();
    await page.getByLabel('Key name').fill('Spin widget');
    await page.getByLabel('Role').selectOption('CLIENT');
    await page.getByRole('button', { name: 'Create key' }).click();
    const secret = (await page.locator('.secret-value').textContent())!;
    const claimAs = await t.gql(`query { campaigns { id } }`, {}, secret);
    expect(claimAs.errors).toBeUndefined();
    await page.getByRole('button', { name: 'Done' }).click();
    expect(await page.locator('.secret-value').count()).toBe(0);

    await page.getByRole('button', { name: 'Revoke Spin widget' }).click();
    await page.getByRole('dialog', { name: 'Revoke the key?' }).getByRole('button', { name: 'Revoke key' }).click();
    await waitForText(page.getByRole('row').filter({ hasText: 'Spin widget' }).getByRole('cell').nth(2), /\d{4}/);
    expect((await t.gql(`query { campaigns { id } }`, {}, secret)).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('is usable at phone width', async () => {
    await createUniqueList(t, 'Phone list', ['PHONE-1']);
    const page = await signedIn(TEST_ADMIN_KEY, PHONE);
    await listRow(page, 'Phone list').waitFor();
    // Nothing wider than the screen.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
    await screenshot(page, 'lists-phone');
    await listRow(page, 'Phone list').getByRole('link').click();
    await page.getByRole('heading', { name: 'Phone list', level: 1 }).waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
    await screenshot(page, 'list-page-phone');
  });

  it('desktop screenshots of the lists page', async () => {
    const page = await signedIn();
    await listRow(page, 'Black Friday').waitFor();
    await screenshot(page, 'lists');
  });
});
