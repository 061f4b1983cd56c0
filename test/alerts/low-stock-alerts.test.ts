import type { Client } from 'graphql-ws';
import { wsClient } from '../helpers/graphql-client';
import { LOW_STOCK_MAIL_QUEUE } from '../../src/modules/alerts/low-stock-alert.service';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { CLAIM, CREATE_CAMPAIGN, CREATE_LIST, LOW_STOCK, UPDATE_LIST, collect, publishStock, subscribing, type Collector } from '../realtime/live-helpers';
import { uploadAndWait } from '../uploads/upload-helpers';
import { startSmtpSink, type SmtpSink } from './smtp-sink';
import { eventually, settled } from '../helpers/fixtures';

interface Alert {
  lowStockAlerts: { listId: string; listName: string; availableCodes: number; warningLimit: number; at: string };
}

describe('low-stock alerts', () => {
  let smtp: SmtpSink;
  let writer: TestApp; // API + workers
  let reader: TestApp; // a second API process
  let client: Client;
  let alerts: Collector<Alert>;

  const alertsFor = (listId: string) => alerts.items.map((item) => item.data.lowStockAlerts).filter((alert) => alert.listId === listId);
  const mailsAbout = (listName: string) => smtp.messages.filter((mail) => mail.subject.startsWith(`Low stock: ${listName} has `));
  const createList = async (input: Record<string, unknown>) => {
    const response = await writer.gql(CREATE_LIST, { input });
    if (response.errors) throw new Error(JSON.stringify(response.errors));
    return response.data.createCouponList.id as string;
  };
  /** Commits figures like a claim would, then lets both processes see the change many times at once. */
  const crossOnBothProcesses = async (listId: string, assigned: number, timesEach = 20) => {
    await writer.app.dataSource.query('UPDATE coupon_lists SET assigned_codes = ? WHERE id = ?', [assigned, listId]);
    await Promise.all(Array.from({ length: timesEach }, () => [publishStock(writer.app, listId), publishStock(reader.app, listId)]).flat());
  };

  /** Once nothing more can follow (no handler running in either process, no mail job left): the crossings the database recorded. */
  const crossingsRaised = async (listId: string) => {
    await settled([writer.app, reader.app], [LOW_STOCK_MAIL_QUEUE]);
    const [row] = await writer.app.dataSource.query('SELECT low_stock_alerts FROM coupon_lists WHERE id = ?', [listId]);
    return Number(row.low_stock_alerts);
  };

  beforeAll(async () => {
    smtp = await startSmtpSink();
    const env = { SMTP_URL: smtp.url, ALERT_FROM: 'Coupon alerts <alerts@example.com>', ALERT_MAIL_RETRY_BASE_MS: '200', LOW_STOCK_SWEEP_SECONDS: '3600' };
    writer = await startTestApp({ env });
    reader = await startTestApp({ env: { ...env, ROLE: 'api' }, shareWith: { databaseUrl: writer.databaseUrl, queuePrefix: writer.queuePrefix } });
    client = wsClient(reader.baseUrl, await writer.createKey('VIEWER'));
    alerts = await subscribing(reader.app, 'lowStockAlerts', () => collect<Alert>(client, LOW_STOCK));
  });
  afterAll(async () => {
    alerts.stop();
    await client.dispose();
    await reader.stop();
    await writer.destroy();
    await smtp.close();
  });

  it('raises one alert and one e-mail per recipient when many changes cross the limit at once on two processes', async () => {
    const listId = await createList({
      name: 'Summer sale',
      kind: 'FIXED',
      fixedCode: 'SUMMER',
      fixedLimit: 100,
      warningLimit: 10,
      alertEmails: ['ops@example.com', 'buyer@example.com'],
    });
    await crossOnBothProcesses(listId, 85); // 15 left: above the limit
    await crossOnBothProcesses(listId, 92); // 8 left: crossed

    const alert = (await alerts.waitFor((data) => data.lowStockAlerts.listId === listId)).lowStockAlerts;
    expect(alert).toMatchObject({ listName: 'Summer sale', availableCodes: 8, warningLimit: 10 });
    expect(new Date(alert.at).toISOString()).toBe(alert.at);
    await eventually(() => mailsAbout('Summer sale').length >= 2, 10_000, 'two e-mails');

    await crossOnBothProcesses(listId, 95); // lower still: the same crossing
    expect(await crossingsRaised(listId)).toBe(1);
    expect(alertsFor(listId)).toHaveLength(1);
    const mails = mailsAbout('Summer sale');
    expect(mails.map((mail) => mail.to).flat().sort()).toEqual(['buyer@example.com', 'ops@example.com']);
    for (const mail of mails) {
      expect(mail.from).toBe('alerts@example.com');
      expect(mail.subject).toContain('8 codes left');
      expect(mail.text).toContain('"Summer sale"');
      expect(mail.text).toContain('has 8 codes left');
      expect(mail.text).toContain('warning limit of 10');
    }
  });

  it('is armed again only after the list rises above the limit (a raised FIXED limit), then alerts once more', async () => {
    const listId = await createList({ name: 'Rearm', kind: 'FIXED', fixedCode: 'REARM', fixedLimit: 100, warningLimit: 10, alertEmails: ['ops@example.com'] });
    await crossOnBothProcesses(listId, 95, 3); // 5 left
    await alerts.waitFor((data) => data.lowStockAlerts.listId === listId);

    // Still at or below the limit: not armed again.
    await writer.gql(UPDATE_LIST, { id: listId, input: { fixedLimit: 104 } }); // 9 left
    await crossOnBothProcesses(listId, 96, 3); // 8 left
    expect(await crossingsRaised(listId)).toBe(1);
    expect(alertsFor(listId)).toHaveLength(1);

    // Above the limit: armed; the next crossing alerts.
    const raised = await writer.gql(UPDATE_LIST, { id: listId, input: { fixedLimit: 200 } });
    expect(raised.data.updateCouponList.availableCodes).toBe(104);
    expect(await crossingsRaised(listId)).toBe(1);
    expect(alertsFor(listId)).toHaveLength(1);
    await crossOnBothProcesses(listId, 191, 5); // 9 left
    await eventually(() => alertsFor(listId).length === 2, 10_000, 'the second alert');
    expect(alertsFor(listId)[1]).toMatchObject({ availableCodes: 9, warningLimit: 10 });
    await eventually(() => mailsAbout('Rearm').length === 2, 10_000, 'the second e-mail');
    expect(await crossingsRaised(listId)).toBe(2);
    expect(alertsFor(listId)).toHaveLength(2);
    expect(mailsAbout('Rearm')).toHaveLength(2);
  });

  it('alerts once when warningLimit is changed to a value already crossed; a list with no codes yet raises nothing', async () => {
    const listId = await createList({ name: 'Limit moved', kind: 'FIXED', fixedCode: 'MOVED', fixedLimit: 100, alertEmails: ['ops@example.com'] });
    const empty = await createList({ name: 'Not loaded yet', kind: 'UNIQUE', warningLimit: 5, alertEmails: ['ops@example.com'] });
    await crossOnBothProcesses(listId, 50, 2); // 50 left, no limit yet

    await writer.gql(UPDATE_LIST, { id: listId, input: { warningLimit: 60 } });
    const alert = (await alerts.waitFor((data) => data.lowStockAlerts.listId === listId)).lowStockAlerts;
    expect(alert).toMatchObject({ availableCodes: 50, warningLimit: 60, listName: 'Limit moved' });

    await writer.gql(UPDATE_LIST, { id: listId, input: { warningLimit: 70 } }); // still crossed: same crossing
    await writer.gql(UPDATE_LIST, { id: empty, input: { warningLimit: 8 } });
    expect(await crossingsRaised(listId)).toBe(1);
    expect(alertsFor(listId)).toHaveLength(1);
    expect(await crossingsRaised(empty)).toBe(0);
    expect(alertsFor(empty)).toHaveLength(0);
    expect(mailsAbout('Limit moved')).toHaveLength(1);
    expect(mailsAbout('Not loaded yet')).toHaveLength(0);

    // Lowered below what is left: armed again without an alert.
    await writer.gql(UPDATE_LIST, { id: listId, input: { warningLimit: 20 } });
    await settled([writer.app, reader.app], [LOW_STOCK_MAIL_QUEUE]);
    const [row] = await writer.app.dataSource.query('SELECT low_stock_alerted FROM coupon_lists WHERE id = ?', [listId]);
    expect(Number(row.low_stock_alerted)).toBe(0);
    expect(alertsFor(listId)).toHaveLength(1);
  });

  it('real claims racing on two processes cross the limit once', async () => {
    const listId = await createList({ name: 'Claimed down', kind: 'FIXED', fixedCode: 'CLAIMED', fixedLimit: 50, warningLimit: 20, alertEmails: ['ops@example.com'] });
    const campaignId = (await writer.gql(CREATE_CAMPAIGN, { input: { name: 'Claimed down', kind: 'WIDGET', listIds: [listId] } })).data.createCampaign.id;
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 2 ? writer : reader).gql(CLAIM, { input: { campaignId, userId: `alert-user-${i}` } })),
    );
    expect(results.filter((result) => result.errors)).toEqual([]);
    const alert = (await alerts.waitFor((data) => data.lowStockAlerts.listId === listId)).lowStockAlerts;
    expect(alert.availableCodes).toBeLessThanOrEqual(20);
    await eventually(() => mailsAbout('Claimed down').length >= 1, 10_000, 'the e-mail');
    expect(await crossingsRaised(listId)).toBe(1);
    expect(alertsFor(listId)).toHaveLength(1);
    expect(mailsAbout('Claimed down')).toHaveLength(1);
  });

  it('an upload lifts a UNIQUE list above its limit and re-arms it; claims drain it to a second alert', async () => {
    const listId = await createList({ name: 'Uploaded', kind: 'UNIQUE', warningLimit: 5, alertEmails: ['ops@example.com'] });
    const codes = (from: number, count: number) => Array.from({ length: count }, (_, i) => `UP-${from + i}`).join('\n');
    expect((await uploadAndWait(writer, listId, codes(1, 12))).status).toBe('COMPLETED');
    const campaignId = (await writer.gql(CREATE_CAMPAIGN, { input: { name: 'Uploaded', kind: 'WIDGET', listIds: [listId] } })).data.createCampaign.id;
    const claim = (i: number) => (i % 2 ? writer : reader).gql(CLAIM, { input: { campaignId, userId: `uploaded-${i}` } });

    for (let i = 0; i < 7; i++) expect((await claim(i)).errors).toBeUndefined(); // 5 left
    await eventually(() => alertsFor(listId).length === 1, 10_000, 'the first alert');
    expect(alertsFor(listId)[0]).toMatchObject({ availableCodes: 5, warningLimit: 5 });

    expect((await uploadAndWait(writer, listId, codes(100, 10))).status).toBe('COMPLETED'); // 15 left: armed
    for (let i = 7; i < 17; i++) expect((await claim(i)).errors).toBeUndefined(); // 5 left again
    await eventually(() => alertsFor(listId).length === 2, 10_000, 'the second alert');
    expect(alertsFor(listId)[1]).toMatchObject({ availableCodes: 5, warningLimit: 5, listName: 'Uploaded' });
    await eventually(() => mailsAbout('Uploaded').length === 2, 10_000, 'two e-mails');
    expect(await crossingsRaised(listId)).toBe(2);
    expect(alertsFor(listId)).toHaveLength(2);
  });

  it('keeps claiming while the mail server refuses; the e-mail is retried until it is delivered, once', async () => {
    const listId = await createList({ name: 'Mail down', kind: 'FIXED', fixedCode: 'MAILDOWN', fixedLimit: 12, warningLimit: 10, alertEmails: ['ops@example.com'] });
    const campaignId = (await writer.gql(CREATE_CAMPAIGN, { input: { name: 'Mail down', kind: 'WIDGET', listIds: [listId] } })).data.createCampaign.id;
    smtp.refusing = true;
    try {
      for (let i = 0; i < 4; i++) {
        const claimed = await writer.gql(CLAIM, { input: { campaignId, userId: `mail-down-${i}` } });
        expect(claimed.errors).toBeUndefined();
      }
      // The alert itself does not wait for mail.
      await alerts.waitFor((data) => data.lowStockAlerts.listId === listId);
      await eventually(() => smtp.refusedAttempts >= 2, 10_000, 'retried sends');
      expect(mailsAbout('Mail down')).toHaveLength(0);
    } finally {
      smtp.refusing = false;
    }
    await eventually(() => mailsAbout('Mail down').length === 1, 15_000, 'the e-mail after the server recovered');
    expect(await crossingsRaised(listId)).toBe(1);
    expect(mailsAbout('Mail down')).toHaveLength(1);
    expect(alertsFor(listId)).toHaveLength(1);
  });

  it('a worker starting up raises a crossing that no process checked', async () => {
    // A list whose crossing was committed without any event reaching a process (as if the process
    // died right after COMMIT): written straight into the database.
    const inserted = await writer.app.dataSource.query(
      `INSERT INTO coupon_lists (name, kind, fixed_code, fixed_limit, total_codes, assigned_codes, warning_limit, alert_emails)
       VALUES ('Missed crossing', 'FIXED', 'MISSED', 30, 30, 27, 5, '["ops@example.com"]')`,
    );
    const listId = String(inserted.insertId);
    expect(await crossingsRaised(listId)).toBe(0);
    expect(alertsFor(listId)).toHaveLength(0);

    const worker = await startTestApp({
      env: { ROLE: 'worker', SMTP_URL: smtp.url, ALERT_FROM: 'alerts@example.com', LOW_STOCK_SWEEP_SECONDS: '3600' },
      shareWith: { databaseUrl: writer.databaseUrl, queuePrefix: writer.queuePrefix },
    });
    try {
      const alert = (await alerts.waitFor((data) => data.lowStockAlerts.listId === listId)).lowStockAlerts;
      expect(alert).toMatchObject({ availableCodes: 3, warningLimit: 5 });
      await eventually(() => mailsAbout('Missed crossing').length === 1, 10_000, 'the e-mail');
    } finally {
      await worker.stop();
    }
  });
});
