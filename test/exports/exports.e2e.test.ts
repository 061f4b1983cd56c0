import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CouponUsageExportService, EXPORT_HOUSEKEEPING_QUEUE } from '../../src/modules/exports/coupon-usage-export.service';
import { DownloadLinks } from '../../src/modules/exports/download-links';
import { LocalDirectoryExportStorage } from '../../src/modules/exports/export-storage';
import { errorCode } from '../helpers/graphql-client';
import { startTestApp, TEST_ADMIN_KEY, type TestApp } from '../helpers/test-app';
import { download, exportList, insertAssignments, requestExport, sequenceTable, waitForExport } from './fixtures';
import { parseCsvStrict } from './rfc4180';
import { appendCodes, createCampaign, createList, eventually, sleep } from '../helpers/fixtures';

const HEADER = ['external_id', 'user_id', 'coupon_code', 'assigned_at', 'redeemed_at', 'order_id'];
const CLAIM = `mutation($input: ClaimCouponInput!) { claimCoupon(input: $input) { id code userId externalId assignedAt reused } }`;

/** Ids a shop really sends: separators, quotes, line breaks, non-Latin text, spreadsheet formulas, edge white space. */
const AWKWARD_USERS: Array<[string, string | null]> = [
  ['plain-user', 'ext-1'],
  ['comma,user', 'ext,with,commas'],
  ['quote"user', 'say "hi"'],
  ['"fully quoted"', '""'],
  ['line\nbreak', 'crlf\r\ninside'],
  ['cr\ronly', null],
  ['ünïcødé-ユーザー-🎟️', 'Ωμέγα'],
  ['=HYPERLINK("http://x","y")', '=1+2'],
  ['+491701234567', '-5'],
  ['@SUM(A1)', '@me'],
  [' leading space', 'trailing space '],
  ['\ttab', 'tab\tinside'],
  ['semi;colon', "apostrophe's"],
  ['back\\slash', null],
];

/** What the export writes for a stored value: a leading apostrophe before a formula start. */
const formulaEscaped = (value: string | null) => (value !== null && /^[=+\-@\t\r]/.test(value) ? `'${value}` : value);

describe('coupon usage exports', () => {
  let t: TestApp;
  let exportDir: string;
  let viewerKey: string;
  let clientKey: string;

  beforeAll(async () => {
    exportDir = mkdtempSync(join(tmpdir(), 'coupon-exports-'));
    t = await startTestApp({ env: { EXPORT_DIR: exportDir } });
    viewerKey = await t.createKey('VIEWER');
    clientKey = await t.createKey('CLIENT');
  });
  afterAll(() => t.destroy());

  it('exports what claims handed out to users with awkward ids, and the file reads back row by row', async () => {
    const codes = ['PLAIN1', 'Q"UOTE', '=CMD|calc', '+PLUS', '-MINUS', '@AT', 'ÜMLAUT€', 'x"y"z', 'emoji🎁', 'abc', 'ABC', 'semi;colon', 'back\\slash', 'last'];
    const listId = await createList(t, { name: 'Awkward', kind: 'UNIQUE', expiresAt: '2099-01-01T00:00:00.000Z' });
    await appendCodes(t.app, listId, codes);
    const campaignId = await createCampaign(t, [listId]);
    const handed = [];
    for (const [userId, externalId] of AWKWARD_USERS) {
      const response = await t.gql(CLAIM, { input: { campaignId, userId, externalId } }, clientKey);
      expect(response.errors).toBeUndefined();
      handed.push(response.data.claimCoupon);
    }
    // A reused claim adds no row.
    expect((await t.gql(CLAIM, { input: { campaignId, userId: 'comma,user' } }, clientKey)).data.claimCoupon.reused).toBe(true);

    const done = await exportList(t, { listId });
    expect(done).toMatchObject({ listId, status: 'COMPLETED', rowCount: AWKWARD_USERS.length, campaignId: null, from: null, to: null, failureReason: null });
    expect(new Date(done.completedAt).getTime()).toBeGreaterThanOrEqual(new Date(done.createdAt).getTime());
    expect(new Date(done.fileExpiresAt).getTime()).toBeGreaterThan(Date.now() + 71 * 3600_000);

    const expected = [...handed]
      .sort((a, b) => a.assignedAt.localeCompare(b.assignedAt) || a.id.localeCompare(b.id))
      .map((a) => [...[a.externalId, a.userId, a.code, a.assignedAt].map(formulaEscaped), null, null]);

    // With a key that may read everything.
    const withKey = await download(`${t.baseUrl}/exports/${done.id}/download`, { authorization: `Bearer ${viewerKey}` });
    expect(withKey.status).toBe(200);
    expect(withKey.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(withKey.headers.get('content-disposition')).toBe(`attachment; filename="coupon-usage-list-${listId}-export-${done.id}.csv"`);
    expect(withKey.body.startsWith('external_id,user_id,coupon_code,assigned_at,redeemed_at,order_id\r\n')).toBe(true);
    const rows = parseCsvStrict(withKey.body);
    expect(rows[0]).toEqual(HEADER);
    expect(rows.slice(1)).toEqual(expected);
    // Cells a spreadsheet would run as formulas start with an apostrophe.
    expect(rows.find((row) => row[1]!.includes('HYPERLINK'))!.slice(0, 2)).toEqual(["'=1+2", `'=HYPERLINK("http://x","y")`]);
    expect(rows.find((row) => row[1] === "'+491701234567")![0]).toBe("'-5");
    expect(rows.find((row) => row[1] === "'\ttab")).toBeDefined();
    expect(rows.slice(1).every((row) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(row[3]!))).toBe(true);

    // With the signed link alone: absolute, on the host the request was sent to.
    expect(done.downloadUrl.startsWith(`${t.baseUrl}/exports/${done.id}/download?`)).toBe(true);
    const withLink = await download(done.downloadUrl);
    expect(withLink.status).toBe(200);
    expect(withLink.body).toBe(withKey.body);
  });

  it('applies the time range and campaign filters and records them on the export', async () => {
    const listId = await createList(t, { name: 'Filtered', kind: 'FIXED', fixedCode: 'F10', fixedLimit: 1000 });
    const other = await createList(t, { name: 'Other', kind: 'FIXED', fixedCode: 'O10', fixedLimit: 1000 });
    const campaignA = await createCampaign(t, [listId]);
    const campaignB = await createCampaign(t, [listId, other]);
    const base = Date.parse('2030-03-01T00:00:00.000Z');
    const rows = Array.from({ length: 40 }, (_, i) => ({
      listId,
      campaignId: i % 2 ? campaignA : campaignB,
      code: 'F10',
      userId: `u${i}`,
      externalId: `e${i}`,
      assignedAt: new Date(base + i * 60_000),
    }));
    await insertAssignments(t.app, rows);
    await insertAssignments(t.app, [{ listId: other, campaignId: campaignB, code: 'O10', userId: 'not-this-list', assignedAt: new Date(base) }]);
    const read = async (filters: Record<string, unknown>) => {
      const done = await exportList(t, { listId, ...filters });
      const csv = parseCsvStrict((await download(done.downloadUrl)).body);
      return { done, users: csv.slice(1).map((row) => row[1]) };
    };

    const from = new Date(base + 10 * 60_000).toISOString();
    const to = new Date(base + 20 * 60_000).toISOString();
    const ranged = await read({ from, to });
    expect(ranged.users).toEqual(Array.from({ length: 10 }, (_, i) => `u${i + 10}`));
    expect(ranged.done).toMatchObject({ from, to, campaignId: null, rowCount: 10 });

    const byCampaign = await read({ campaignId: campaignA, from });
    expect(byCampaign.users).toEqual(rows.filter((_, i) => i % 2 === 1 && i >= 10).map((row) => row.userId));
    expect(byCampaign.done).toMatchObject({ campaignId: campaignA, from, to: null });

    const all = await read({});
    expect(all.users).toEqual(rows.map((row) => row.userId));
    const empty = await read({ to: new Date(base).toISOString() });
    expect(empty.done.rowCount).toBe(0);
  });

  it('reflects one moment while inserts continue, and runs several exports of one list at once', async () => {
    const listId = await createList(t, { name: 'Busy', kind: 'FIXED', fixedCode: 'BUSY', fixedLimit: 1_000_000 });
    const campaignId = await createCampaign(t, [listId]);
    const base = Date.parse('2031-01-01T00:00:00.000Z');
    // 60,000 rows to stream, spread over a day.
    await t.app.dataSource.query(
      `INSERT INTO coupon_assignments (id, list_id, campaign_id, code, user_id, external_id, assigned_at)
       SELECT CONCAT('00000000-0000-7000-8000-', LPAD(n, 12, '0')), ?, ?, 'BUSY', CONCAT('seed-', n), NULL,
              TIMESTAMPADD(MICROSECOND, n * 1000000, ?)
       FROM ${sequenceTable(60_000)}`,
      [listId, campaignId, new Date(base)],
    );
    // Batches committed while the exports run; each batch spreads its rows over the whole day, so an
    // export that read rows committed after it began would hold some rows of a batch but not all.
    let stop = false;
    const committed: number[] = [];
    const writer = (async () => {
      for (let batch = 1; !stop; batch++) {
        await insertAssignments(
          t.app,
          Array.from({ length: 20 }, (_, i) => ({
            listId,
            campaignId,
            code: 'BUSY',
            userId: `batch-${batch}-${i}`,
            assignedAt: new Date(base + Math.floor(((i * 7 + batch) % 20) * 3_000_000)),
          })),
        );
        committed.push(batch);
        await sleep(2);
      }
    })();
    // The exports start while the writer is committing.
    await eventually(() => committed.length >= 3, 10_000, 'the writer committing');
    const requests = await Promise.all([1, 2, 3].map(() => requestExport(t, { listId })));
    const finished = await Promise.all(requests.map((r) => waitForExport(t, r.data.exportCouponUsage.id)));
    stop = true;
    await writer;

    expect(finished.map((f) => f.status)).toEqual(['COMPLETED', 'COMPLETED', 'COMPLETED']);
    expect(new Set(finished.map((f) => f.id)).size).toBe(3);
    for (const done of finished) {
      const rows = parseCsvStrict((await download(done.downloadUrl)).body).slice(1);
      expect(rows).toHaveLength(done.rowCount);
      const seeds = rows.filter((row) => row[1]!.startsWith('seed-')).length;
      expect(seeds).toBe(60_000);
      const perBatch = new Map<number, number>();
      for (const row of rows) {
        const match = /^batch-(\d+)-/.exec(row[1]!);
        if (match) perBatch.set(Number(match[1]), (perBatch.get(Number(match[1])) ?? 0) + 1);
      }
      // Whole batches only, and exactly the first k that committed.
      expect([...perBatch.values()].every((count) => count === 20)).toBe(true);
      const batches = [...perBatch.keys()].sort((a, b) => a - b);
      expect(batches).toEqual(Array.from({ length: batches.length }, (_, i) => i + 1));
      expect(batches.length).toBeLessThan(committed.length);
      // Ordered by assigned_at (then id).
      const times = rows.map((row) => row[3]!);
      expect(times.every((time, i) => i === 0 || times[i - 1] <= time)).toBe(true);
    }
  });

  it('removes files after the retention period; the export stays COMPLETED without a link', async () => {
    const listId = await createList(t, { name: 'Retained', kind: 'FIXED', fixedCode: 'RET', fixedLimit: 10 });
    const campaignId = await createCampaign(t, [listId]);
    await insertAssignments(t.app, [{ listId, campaignId, code: 'RET', userId: 'r1', assignedAt: new Date() }]);
    const done = await exportList(t, { listId });
    const link = done.downloadUrl;
    const [{ file_key: fileKey }] = await t.app.dataSource.query('SELECT file_key FROM coupon_usage_exports WHERE id = ?', [done.id]);
    expect(readdirSync(exportDir)).toContain(fileKey);

    await t.app.dataSource.query('UPDATE coupon_usage_exports SET file_expires_at = UTC_TIMESTAMP(3) - INTERVAL 1 SECOND WHERE id = ?', [done.id]);
    // Past its retention the file is not served, even before the sweep has run.
    expect((await download(link)).status).toBe(410);
    // The sweep is a repeatable job on the workers; run it now.
    const queue = t.app.queues.queue(EXPORT_HOUSEKEEPING_QUEUE);
    expect((await queue.getJobSchedulers()).map((s) => s.key)).toContain('export-housekeeping');
    await queue.add('housekeeping', {});
    const deadline = Date.now() + 15_000;
    while (readdirSync(exportDir).includes(fileKey) && Date.now() < deadline) await sleep(50);
    expect(readdirSync(exportDir)).not.toContain(fileKey);
    for (let i = 0; i < 100; i++) {
      const [row] = await t.app.dataSource.query('SELECT file_key, file_removed_at FROM coupon_usage_exports WHERE id = ?', [done.id]);
      if (row.file_key === null) break;
      await sleep(50);
    }
    const after = await waitForExport(t, done.id);
    expect(after).toMatchObject({ status: 'COMPLETED', rowCount: 1, downloadUrl: null });
    const gone = await download(`${t.baseUrl}/exports/${done.id}/download`, { authorization: `Bearer ${TEST_ADMIN_KEY}` });
    expect(gone.status).toBe(410);
    expect(gone.body).not.toContain('r1');
  });

  it('refuses downloads without a valid key or link, and never sends bytes of the file', async () => {
    const listId = await createList(t, { name: 'Secret', kind: 'FIXED', fixedCode: 'SECRET', fixedLimit: 10 });
    const campaignId = await createCampaign(t, [listId]);
    await insertAssignments(t.app, [{ listId, campaignId, code: 'SECRET', userId: 'secret-user', assignedAt: new Date() }]);
    const done = await exportList(t, { listId });
    const path = `${t.baseUrl}/exports/${done.id}/download`;
    const url = new URL(done.downloadUrl);
    const signature = url.searchParams.get('signature')!;
    const expires = Number(url.searchParams.get('expires'));
    expect(expires * 1000).toBeGreaterThan(Date.now() + 3500_000);
    expect(expires * 1000).toBeLessThanOrEqual(Date.now() + 3600_000);

    const other = await exportList(t, { listId });
    const otherLink = new URL(other.downloadUrl).searchParams;
    const expired = await new DownloadLinks(t.app).sign(done.id, Date.now() - 3601_000);
    const refusals: Array<[string, Record<string, string>, number]> = [
      [path, {}, 401],
      [path, { authorization: 'Bearer not-a-key' }, 401],
      [path, { authorization: `Bearer ${clientKey}` }, 403],
      [`${path}?expires=${expires}&signature=${signature.slice(0, -2)}xx`, {}, 403],
      [`${path}?expires=${expires + 60}&signature=${signature}`, {}, 403],
      [`${path}?expires=${expires}`, {}, 403],
      [`${path}?${expired}`, {}, 403],
      // A valid link of another export does not open this one.
      [`${path}?expires=${otherLink.get('expires')}&signature=${otherLink.get('signature')}`, {}, 403],
    ];
    for (const [target, headers, status] of refusals) {
      const response = await download(target, headers);
      expect({ target, status: response.status }).toEqual({ target, status });
      expect(response.body).not.toContain('secret-user');
      expect(response.body).not.toContain('external_id');
      expect(response.headers.get('content-type')).toContain('application/json');
    }
    expect((await download(path, { authorization: `Bearer ${TEST_ADMIN_KEY}` })).status).toBe(200);
    expect((await download(`${path}?${expired}`, { authorization: `Bearer ${viewerKey}` })).status).toBe(200);
    expect((await download(`${t.baseUrl}/exports/987654/download`, { authorization: `Bearer ${viewerKey}` })).status).toBe(404);
    expect((await download(`${t.baseUrl}/exports/nope/download?expires=${expires}&signature=${signature}`)).status).toBe(403);
  });

  it('signs links every process of the deployment accepts, on PUBLIC_URL when set', async () => {
    const second = await startTestApp({
      env: { ROLE: 'api', EXPORT_DIR: exportDir, PUBLIC_URL: 'https://coupons.example.com/' },
      shareWith: { databaseUrl: t.databaseUrl, queuePrefix: t.queuePrefix },
    });
    try {
      const listId = await createList(t, { name: 'Shared', kind: 'FIXED', fixedCode: 'SHARED', fixedLimit: 10 });
      const campaignId = await createCampaign(t, [listId]);
      await insertAssignments(t.app, [{ listId, campaignId, code: 'SHARED', userId: 'shared-user', assignedAt: new Date() }]);
      // Requested on the API-only process, written by the first process's worker.
      const requested = await requestExport(second, { listId });
      expect(requested.data.exportCouponUsage.status).toBe('QUEUED');
      const done = await waitForExport(second, requested.data.exportCouponUsage.id);
      const link = new URL(done.downloadUrl);
      expect(`${link.origin}${link.pathname}`).toBe(`https://coupons.example.com/exports/${done.id}/download`);
      const response = await download(`${t.baseUrl}${link.pathname}${link.search}`);
      expect(response.status).toBe(200);
      expect(parseCsvStrict(response.body)[1][1]).toBe('shared-user');
      const fromFirst = new URL((await waitForExport(t, done.id)).downloadUrl);
      expect((await download(`${second.baseUrl}${fromFirst.pathname}${fromFirst.search}`)).status).toBe(200);
    } finally {
      await second.stop();
    }
  });

  it('refuses bad export requests with the contract codes', async () => {
    const listId = await createList(t, { name: 'Refusals', kind: 'FIXED', fixedCode: 'REF', fixedLimit: 10 });
    const unrelated = await createList(t, { name: 'Unrelated', kind: 'FIXED', fixedCode: 'UNR', fixedLimit: 10 });
    const unrelatedCampaign = await createCampaign(t, [unrelated]);
    expect(errorCode(await requestExport(t, { listId: '987654321' }))).toBe('NOT_FOUND');
    expect(errorCode(await requestExport(t, { listId: 'not-an-id' }))).toBe('NOT_FOUND');
    expect(errorCode(await requestExport(t, { listId }, clientKey))).toBe('FORBIDDEN');
    expect(errorCode(await requestExport(t, { listId }, null))).toBe('UNAUTHENTICATED');
    expect(errorCode(await requestExport(t, { listId, campaignId: '987654321' }))).toBe('NOT_FOUND');
    const notInCampaign = await requestExport(t, { listId, campaignId: unrelatedCampaign });
    expect(errorCode(notInCampaign)).toBe('BAD_USER_INPUT');
    expect(notInCampaign.errors![0].extensions!.field).toBe('campaignId');
    const backwards = await requestExport(t, { listId, from: '2030-01-02T00:00:00Z', to: '2030-01-01T00:00:00Z' });
    expect(errorCode(backwards)).toBe('BAD_USER_INPUT');
    expect(backwards.errors![0].extensions!.field).toBe('to');
    expect(errorCode(await requestExport(t, { listId, from: 'yesterday' }))).toBe('BAD_USER_INPUT');
    expect((await t.gql(`{ couponUsageExport(id: "987654") { id } }`)).data.couponUsageExport).toBeNull();
    expect(errorCode(await t.gql(`{ couponUsageExport(id: "1") { id } }`, {}, clientKey))).toBe('FORBIDDEN');
    // Viewers (dashboards, marketing) may export.
    const byViewer = await requestExport(t, { listId }, viewerKey);
    expect(byViewer.data.exportCouponUsage.status).toBe('QUEUED');
    expect((await waitForExport(t, byViewer.data.exportCouponUsage.id)).rowCount).toBe(0);
    const [{ n }] = await t.app.dataSource.query('SELECT COUNT(*) AS n FROM coupon_usage_exports WHERE list_id = ?', [listId]);
    expect(Number(n)).toBe(1);
  });

  it('does not redo a finished export when its job runs again', async () => {
    const listId = await createList(t, { name: 'Idempotent', kind: 'FIXED', fixedCode: 'IDEM', fixedLimit: 10 });
    const campaignId = await createCampaign(t, [listId]);
    await insertAssignments(t.app, [{ listId, campaignId, code: 'IDEM', userId: 'i1', assignedAt: new Date() }]);
    const done = await exportList(t, { listId });
    const before = await t.app.dataSource.query('SELECT file_key, completed_at FROM coupon_usage_exports WHERE id = ?', [done.id]);
    await insertAssignments(t.app, [{ listId, campaignId, code: 'IDEM', userId: 'i2', assignedAt: new Date() }]);
    await t.app.get(CouponUsageExportService).run(done.id, true);
    expect(await t.app.dataSource.query('SELECT file_key, completed_at FROM coupon_usage_exports WHERE id = ?', [done.id])).toEqual(before);
    expect((await waitForExport(t, done.id)).rowCount).toBe(1);
  });

  it('keeps a failing export for the retry, and marks it FAILED after the last attempt without internals', async () => {
    const listId = await createList(t, { name: 'Unwritable', kind: 'FIXED', fixedCode: 'UNW', fixedLimit: 10 });
    const { insertId } = await t.app.dataSource.query("INSERT INTO coupon_usage_exports (list_id, status, created_at) VALUES (?, 'QUEUED', UTC_TIMESTAMP(3))", [listId]);
    const id = String(insertId);
    // A storage directory that cannot be created: a plain file is in the way.
    const blocker = join(exportDir, 'not-a-directory');
    writeFileSync(blocker, 'x');
    const service = new CouponUsageExportService(t.app);
    service.storage = new LocalDirectoryExportStorage(join(blocker, 'exports'));

    await expect(service.run(id, false)).rejects.toThrow();
    expect((await waitForExportStatus(id)).status).toBe('PROCESSING');
    await expect(service.run(id, true)).rejects.toThrow();
    const failed = await waitForExport(t, id);
    expect(failed).toMatchObject({ status: 'FAILED', rowCount: null, downloadUrl: null });
    expect(failed.failureReason).toMatch(/^The file could not be written \(error id [0-9a-f-]{36}\); request the export again$/);
    // The job running again later changes nothing.
    await t.app.get(CouponUsageExportService).run(id, true);
    expect((await waitForExport(t, id)).status).toBe('FAILED');
  });

  async function waitForExportStatus(id: string): Promise<{ status: string }> {
    return (await t.gql(`query($id: ID!) { couponUsageExport(id: $id) { status } }`, { id })).data.couponUsageExport;
  }
});
