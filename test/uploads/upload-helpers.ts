import { CODE_UPLOAD_FIELDS, uploadCodes, type UploadResponse } from '../../bench/lib/upload-client';
import { TEST_ADMIN_KEY, type TestApp } from '../helpers/test-app';

export { CODE_UPLOAD_FIELDS };

export const LIST_FIGURES = 'id totalCodes assignedCodes availableCodes status';

export function upload(
  t: { baseUrl: string },
  listId: string,
  content: Buffer | string | { path: string },
  options: { fileName?: string; mode?: 'APPEND' | 'REPLACE'; key?: string | null } = {},
): Promise<UploadResponse> {
  return uploadCodes({
    baseUrl: t.baseUrl,
    key: options.key === undefined ? TEST_ADMIN_KEY : options.key,
    listId,
    fileName: options.fileName ?? 'codes.txt',
    content,
    mode: options.mode,
  });
}

export async function readUpload(t: TestApp, id: string): Promise<any> {
  const response = await t.gql(`query($id: ID!) { codeUpload(id: $id) { ${CODE_UPLOAD_FIELDS} } }`, { id });
  // A field error (a database host switching under the read) is an error, not "no such upload".
  if (!response.data || response.errors) throw new Error(JSON.stringify(response.errors));
  return response.data.codeUpload;
}

/** Polls until the upload is COMPLETED or FAILED. */
export async function waitForUpload(t: TestApp, id: string, timeoutMs = 60_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const current = await readUpload(t, id);
    if (current.status === 'COMPLETED' || current.status === 'FAILED') return current;
    if (Date.now() > deadline) throw new Error(`upload ${id} did not finish: ${JSON.stringify(current)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Uploads and waits for the end; fails the test when the request itself is refused. */
export async function uploadAndWait(t: TestApp, listId: string, content: Buffer | string, options: { fileName?: string; mode?: 'APPEND' | 'REPLACE' } = {}) {
  const response = await upload(t, listId, content, options);
  if (!response.data) throw new Error(`upload refused: ${JSON.stringify(response.errors)}`);
  return waitForUpload(t, response.data.uploadCouponCodes.id);
}

export async function listFigures(t: TestApp, listId: string): Promise<any> {
  return (await t.gql(`query($id: ID!) { couponList(id: $id) { ${LIST_FIGURES} } }`, { id: listId })).data.couponList;
}

/** The codes a list can still hand out, in the order it hands them out. */
export async function claimableCodes(t: TestApp, listId: string): Promise<string[]> {
  const rows: Array<{ code: string }> = await t.app.dataSource.query(
    `SELECT c.code FROM coupon_codes c JOIN coupon_lists l ON l.id = c.list_id
      WHERE c.list_id = ? AND c.seq > l.claim_cursor AND c.seq <= l.visible_seq ORDER BY c.seq`,
    [listId],
  );
  return rows.map((row) => row.code);
}

/** Every code row the list holds (visible or not), in seq order. */
export async function allCodeRows(t: TestApp, listId: string): Promise<string[]> {
  const rows: Array<{ code: string }> = await t.app.dataSource.query(`SELECT code FROM coupon_codes WHERE list_id = ? ORDER BY seq`, [listId]);
  return rows.map((row) => row.code);
}
