import { CodeImportService } from '../../src/modules/uploads/code-import.service';
import { errorCode, wsClient } from '../helpers/graphql-client';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { CODE_UPLOAD_FIELDS, allCodeRows, claimableCodes, listFigures, readUpload, upload, uploadAndWait, waitForUpload } from './upload-helpers';
import { createUniqueList } from '../helpers/fixtures';

const codes = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}${i + 1}`);
const file = (lines: string[]) => `${lines.join('\n')}\n`;

async function startUpload(t: TestApp, listId: string, content: string, mode?: 'APPEND' | 'REPLACE'): Promise<string> {
  const response = await upload(t, listId, content, { mode });
  if (!response.data) throw new Error(JSON.stringify(response.errors));
  return response.data.uploadCouponCodes.id;
}

/** Waits until the upload has committed at least one chunk and is still running. */
async function whileProcessing(t: TestApp, id: string): Promise<any> {
  for (;;) {
    const current = await readUpload(t, id);
    if (current.status === 'PROCESSING' && current.linesRead > 0) return current;
    if (current.status === 'COMPLETED' || current.status === 'FAILED') throw new Error(`upload ${id} ended before the test could act: ${current.status}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function createCampaign(t: TestApp, listIds: string[]): Promise<string> {
  const response = await t.gql(`mutation($input: CreateCampaignInput!) { createCampaign(input: $input) { id } }`, {
    input: { name: `Campaign ${Date.now()}`, kind: 'WIDGET', listIds },
  });
  if (!response.data) throw new Error(JSON.stringify(response.errors));
  return response.data.createCampaign.id;
}

let userCounter = 0;
async function claim(t: TestApp, campaignId: string): Promise<string> {
  const response = await t.gql(`mutation($input: ClaimCouponInput!) { claimCoupon(input: $input) { code } }`, {
    input: { campaignId, userId: `upload-user-${++userCounter}` },
  });
  if (!response.data) throw new Error(JSON.stringify(response.errors));
  return response.data.claimCoupon.code;
}

describe('code uploads', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.destroy());

  describe('refusals', () => {
    let listId: string;
    beforeAll(async () => {
      listId = await createUniqueList(t, 'Refusals');
    });

    it.each(['codes.csv', 'codes', 'codes.txt.exe', '.txt.gz', 'codes.text'])('refuses the file name %j as BAD_USER_INPUT', async (fileName) => {
      const response = await upload(t, listId, 'A\n', { fileName });
      expect(errorCode(response)).toBe('BAD_USER_INPUT');
      expect(response.errors![0].extensions!.field).toBe('file');
      expect(response.errors![0].message).toMatch(/\.txt/);
    });

    it('accepts .TXT in any case', async () => {
      const response = await upload(t, listId, 'UPPER1\n', { fileName: 'Codes.TXT' });
      expect(response.errors).toBeUndefined();
      expect((await waitForUpload(t, response.data.uploadCouponCodes.id)).status).toBe('COMPLETED');
    });

    it('refuses a FIXED list, an unknown list and keys below ADMIN; records nothing', async () => {
      const fixed = (await t.gql(`mutation { createCouponList(input: { name: "F", kind: FIXED, fixedCode: "SAME", fixedLimit: 5 }) { id } }`)).data.createCouponList.id;
      const onFixed = await upload(t, fixed, 'A\n');
      expect(errorCode(onFixed)).toBe('BAD_USER_INPUT');
      expect(onFixed.errors![0].extensions!.field).toBe('listId');
      expect(errorCode(await upload(t, '987654321', 'A\n'))).toBe('NOT_FOUND');
      expect(errorCode(await upload(t, 'not-an-id', 'A\n'))).toBe('NOT_FOUND');
      expect(errorCode(await upload(t, listId, 'A\n', { key: await t.createKey('CLIENT') }))).toBe('FORBIDDEN');
      expect(errorCode(await upload(t, listId, 'A\n', { key: await t.createKey('VIEWER') }))).toBe('FORBIDDEN');
      expect(errorCode(await upload(t, listId, 'A\n', { key: null }))).toBe('UNAUTHENTICATED');
      const uploads = await t.gql(`query($listId: ID!) { codeUploads(listId: $listId) { fileName } }`, { listId: fixed });
      expect(uploads.data.codeUploads).toEqual([]);
    });
  });

  it('lists uploads newest first and reads one by id; VIEWER may read, CLIENT may not', async () => {
    const listId = await createUniqueList(t, 'History');
    await uploadAndWait(t, listId, 'H1\n', { fileName: 'first.txt' });
    await uploadAndWait(t, listId, 'H2\n', { fileName: 'second.txt' });
    const viewer = await t.createKey('VIEWER');
    const listed = await t.gql(`query($listId: ID!) { codeUploads(listId: $listId) { id fileName status } }`, { listId }, viewer);
    expect(listed.data.codeUploads.map((u: { fileName: string }) => u.fileName)).toEqual(['second.txt', 'first.txt']);
    const one = await t.gql(`query($id: ID!) { codeUpload(id: $id) { ${CODE_UPLOAD_FIELDS} } }`, { id: listed.data.codeUploads[1].id }, viewer);
    expect(one.data.codeUpload).toMatchObject({ fileName: 'first.txt', listId, mode: 'APPEND', status: 'COMPLETED', codesAdded: 1 });
    expect((await t.gql(`{ codeUpload(id: "99999999") { id } }`)).data.codeUpload).toBeNull();
    const client = await t.createKey('CLIENT');
    expect(errorCode(await t.gql(`query($id: ID!) { codeUpload(id: $id) { id } }`, { id: listed.data.codeUploads[1].id }, client))).toBe('FORBIDDEN');
  });

  it('REPLACE swaps the unassigned codes, keeps what was assigned, and keeps a file code that was still unassigned', async () => {
    const listId = await createUniqueList(t, 'Replace');
    await uploadAndWait(t, listId, file(['A', 'B', 'C', 'D', 'E']));
    const campaignId = await createCampaign(t, [listId]);
    expect([await claim(t, campaignId), await claim(t, campaignId)]).toEqual(['A', 'B']);

    const replaced = await uploadAndWait(t, listId, file(['B', 'D', 'X', 'Y', 'D']), { mode: 'REPLACE' });
    // B was handed out: a duplicate. D was not: it stays, now in its place in the file.
    expect(replaced).toMatchObject({ status: 'COMPLETED', mode: 'REPLACE', linesRead: 5, codesAdded: 3, duplicatesSkipped: 2, invalidLines: 0 });
    expect(await listFigures(t, listId)).toMatchObject({ totalCodes: 5, assignedCodes: 2, availableCodes: 3, status: 'ACTIVE' });
    expect(await claimableCodes(t, listId)).toEqual(['D', 'X', 'Y']);
    // The old unassigned codes are deleted; the assigned ones stay for history (and cannot be uploaded again).
    expect(await allCodeRows(t, listId)).toEqual(['A', 'B', 'D', 'X', 'Y']);
    expect([await claim(t, campaignId), await claim(t, campaignId), await claim(t, campaignId)]).toEqual(['D', 'X', 'Y']);

    const again = await uploadAndWait(t, listId, file(['C', 'A']));
    expect(again).toMatchObject({ codesAdded: 1, duplicatesSkipped: 1 });
    expect(await claimableCodes(t, listId)).toEqual(['C']);
  });

  it('REPLACE counts a kept code that was handed out during the import as a duplicate', async () => {
    const listId = await createUniqueList(t, 'Replace race');
    await uploadAndWait(t, listId, file(['P', 'Q']));
    const campaignId = await createCampaign(t, [listId]);
    const fresh = codes('R', 400_000);
    const id = await startUpload(t, listId, file(['P', ...fresh]), 'REPLACE');
    await whileProcessing(t, id);
    expect(await claim(t, campaignId)).toBe('P'); // the old P, still visible while the REPLACE runs
    const claimedWhileRunning = (await readUpload(t, id)).status === 'PROCESSING';
    const done = await waitForUpload(t, id);
    expect(done.linesRead).toBe(400_001);
    if (claimedWhileRunning) {
      expect(done).toMatchObject({ status: 'COMPLETED', codesAdded: 400_000, duplicatesSkipped: 1 });
      expect(await listFigures(t, listId)).toMatchObject({ totalCodes: 400_001, assignedCodes: 1, availableCodes: 400_000 });
    } else {
      expect(done).toMatchObject({ status: 'COMPLETED', codesAdded: 400_001, duplicatesSkipped: 0 });
    }
    const available = await claimableCodes(t, listId);
    expect(available[0]).toBe('R1');
    expect(available).not.toContain('P');
    expect(available).not.toContain('Q');
    expect(available).toHaveLength(400_000);
  });

  it('a failed REPLACE leaves the list exactly as it was', async () => {
    const listId = await createUniqueList(t, 'Replace fails');
    await uploadAndWait(t, listId, file(['K1', 'K2', 'K3']));
    const id = await startUpload(t, listId, file(['K2', ...codes('N', 400_000)]), 'REPLACE');
    await whileProcessing(t, id);
    // What the last attempt of a repeatedly failing import does.
    expect(await t.app.get(CodeImportService).fail(id, 'stopped by the test')).toBe(true);
    const failed = await waitForUpload(t, id);
    expect(failed).toMatchObject({ status: 'FAILED', failureReason: 'stopped by the test' });
    for (let i = 0; i < 200 && (await allCodeRows(t, listId)).length !== 3; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await allCodeRows(t, listId)).toEqual(['K1', 'K2', 'K3']);
    expect(await claimableCodes(t, listId)).toEqual(['K1', 'K2', 'K3']);
    expect(await listFigures(t, listId)).toMatchObject({ totalCodes: 3, assignedCodes: 0, availableCodes: 3 });
    const [{ chunks }] = await t.app.dataSource.query(`SELECT COUNT(*) AS chunks FROM code_upload_chunks WHERE upload_id = ?`, [id]);
    expect(Number(chunks)).toBe(0);
  });

  it('runs the uploads of one list one after another in the order received; other lists at the same time', async () => {
    const listId = await createUniqueList(t, 'Order');
    const otherList = await createUniqueList(t, 'Order other');
    const first = await startUpload(t, listId, file(codes('first-', 300_000)));
    const other = await startUpload(t, otherList, file(codes('other-', 300_000)));
    const second = await startUpload(t, listId, file(['S1', 'S2', 'first-1']));
    const third = await startUpload(t, listId, file(['T1', 'S1']));
    await whileProcessing(t, first);
    expect((await readUpload(t, second)).status).toBe('QUEUED');
    const [a, b, c, o] = [await waitForUpload(t, first), await waitForUpload(t, second), await waitForUpload(t, third), await waitForUpload(t, other)];
    expect([a.status, b.status, c.status, o.status]).toEqual(['COMPLETED', 'COMPLETED', 'COMPLETED', 'COMPLETED']);
    expect(new Date(a.completedAt).getTime()).toBeLessThanOrEqual(new Date(b.startedAt).getTime());
    expect(new Date(b.completedAt).getTime()).toBeLessThanOrEqual(new Date(c.startedAt).getTime());
    expect([b.codesAdded, b.duplicatesSkipped, c.codesAdded, c.duplicatesSkipped]).toEqual([2, 1, 1, 1]);
    const order = await claimableCodes(t, listId);
    expect(order.slice(-3)).toEqual(['S1', 'S2', 'T1']);
    expect(order).toHaveLength(300_003);
    // The other list's import overlapped the first one.
    expect(new Date(o.startedAt).getTime()).toBeLessThan(new Date(a.completedAt).getTime());
    expect(new Date(a.startedAt).getTime()).toBeLessThan(new Date(o.completedAt).getTime());
  });

  it('claims keep working during an APPEND, from the codes already there; list edits too', async () => {
    const listId = await createUniqueList(t, 'Busy');
    await uploadAndWait(t, listId, file(codes('old-', 20)));
    const campaignId = await createCampaign(t, [listId]);
    const id = await startUpload(t, listId, file(codes('new-', 400_000)));
    await whileProcessing(t, id);
    const claimed: string[] = [];
    for (let i = 0; i < 5; i++) claimed.push(await claim(t, campaignId));
    const edited = await t.gql(`mutation($id: ID!) { updateCouponList(id: $id, input: { name: "Busy, renamed", warningLimit: 7 }) { name warningLimit totalCodes } }`, { id: listId });
    expect(edited.errors).toBeUndefined();
    const during = await readUpload(t, id);
    expect(claimed).toEqual(['old-1', 'old-2', 'old-3', 'old-4', 'old-5']);
    if (during.status === 'PROCESSING') expect(edited.data.updateCouponList.totalCodes).toBe(20); // nothing of the upload visible yet
    const done = await waitForUpload(t, id);
    expect(done).toMatchObject({ status: 'COMPLETED', codesAdded: 400_000 });
    const figures = (await t.gql(`query($id: ID!) { couponList(id: $id) { name warningLimit totalCodes assignedCodes availableCodes } }`, { id: listId })).data.couponList;
    expect(figures).toEqual({ name: 'Busy, renamed', warningLimit: 7, totalCodes: 400_020, assignedCodes: 5, availableCodes: 400_015 });
    const next = await claimableCodes(t, listId);
    expect(next.slice(0, 16)).toEqual([...codes('old-', 20).slice(5), 'new-1']);
  });

  it('codeUploadProgress reaches a subscriber on another API process, at least every second, and ends with the final figures', async () => {
    const api = await startTestApp({ env: { ROLE: 'api' }, shareWith: { databaseUrl: t.databaseUrl, queuePrefix: t.queuePrefix } });
    const client = wsClient(api.baseUrl, await t.createKey('VIEWER'));
    try {
      const listId = await createUniqueList(t, 'Progress');
      const id = await startUpload(t, listId, file([...codes('p-', 400_000), 'p-1', 'bad code']));
      const received: Array<{ at: number; upload: any }> = [];
      await new Promise<void>((resolve, reject) => {
        client.subscribe(
          { query: `subscription($id: ID!) { codeUploadProgress(uploadId: $id) { ${CODE_UPLOAD_FIELDS} } }`, variables: { id } },
          {
            next: (message) => (message.errors ? reject(new Error(JSON.stringify(message.errors))) : received.push({ at: Date.now(), upload: message.data!.codeUploadProgress })),
            error: reject,
            complete: resolve,
          },
        );
      });
      const last = received[received.length - 1].upload;
      expect(last).toMatchObject({ id, status: 'COMPLETED', linesRead: 400_002, codesAdded: 400_000, duplicatesSkipped: 1, invalidLines: 1 });
      expect(received.filter(({ upload }) => upload.status === 'COMPLETED')).toHaveLength(1);
      const progress = received.map(({ upload }) => upload.linesRead);
      expect(progress).toEqual([...progress].sort((x, y) => x - y));
      expect(received.length).toBeGreaterThanOrEqual(2);

      // A finished upload: its final state once, then the end. An unknown one: NOT_FOUND.
      const again: any[] = [];
      await new Promise<void>((resolve, reject) =>
        client.subscribe(
          { query: `subscription($id: ID!) { codeUploadProgress(uploadId: $id) { status codesAdded } }`, variables: { id } },
          { next: (message) => again.push(message.data?.codeUploadProgress), error: reject, complete: resolve },
        ),
      );
      expect(again).toEqual([{ status: 'COMPLETED', codesAdded: 400_000 }]);
      const unknown = await new Promise<any>((resolve) =>
        client.subscribe(
          { query: `subscription { codeUploadProgress(uploadId: "424242424") { status } }` },
          { next: (message) => resolve(message), error: (error) => resolve({ errors: error }), complete: () => undefined },
        ),
      );
      expect(JSON.stringify(unknown.errors)).toContain('NOT_FOUND');
    } finally {
      await client.dispose();
      await api.destroy();
    }
  });
});

describe('code uploads larger than MAX_UPLOAD_BYTES', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ env: { MAX_UPLOAD_BYTES: '2000' } });
  });
  afterAll(() => t.destroy());

  it('fail with a clear reason and load nothing; a file just under the limit loads', async () => {
    const listId = await createUniqueList(t, 'Limit');
    await uploadAndWait(t, listId, 'EXISTING\n');
    const line = 'ABCDEFGHIJKLMNOPQRS\n'; // 20 bytes
    const over = await upload(t, listId, line.repeat(101)); // 2020 bytes
    expect(over.errors).toBeUndefined();
    expect(over.data.uploadCouponCodes).toMatchObject({ status: 'FAILED', codesAdded: 0 });
    expect(over.data.uploadCouponCodes.failureReason).toMatch(/larger than the limit of 2000 bytes \(MAX_UPLOAD_BYTES\)/);
    const much = await upload(t, listId, Buffer.alloc(5_000_000, 'Q\n'));
    expect(much.data.uploadCouponCodes.status).toBe('FAILED');
    expect(await allCodeRows(t, listId)).toEqual(['EXISTING']);
    expect((await listFigures(t, listId)).totalCodes).toBe(1);
    const [{ chunks }] = await t.app.dataSource.query(`SELECT COUNT(*) AS chunks FROM code_upload_chunks`);
    expect(Number(chunks)).toBe(0);

    const under = Array.from({ length: 100 }, (_, i) => `CODE-${String(i).padStart(14, '0')}\n`).join('').slice(0, -1); // 1999 bytes
    expect(Buffer.byteLength(under)).toBe(1999);
    const belowLimit = await uploadAndWait(t, listId, under);
    expect(belowLimit).toMatchObject({ status: 'COMPLETED', codesAdded: 100, bytesReceived: 1999 });
  });
});
