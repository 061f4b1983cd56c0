import { v7 as uuidv7 } from 'uuid';
import type { AppContext } from '../../src/app-context';
import { sleep } from '../helpers/fixtures';
import type { TestApp } from '../helpers/test-app';

export const EXPORT_FIELDS = 'id listId campaignId from to status rowCount downloadUrl failureReason createdAt snapshotAt completedAt fileExpiresAt';

export interface AssignmentRow {
  id?: string;
  listId: string;
  campaignId: string;
  code: string;
  userId: string;
  externalId?: string | null;
  assignedAt: Date;
}

/** Writes assignments straight into the table (volume and exact timestamps the claim path cannot give). */
export async function insertAssignments(app: AppContext, rows: AssignmentRow[]): Promise<string[]> {
  const ids = rows.map((row) => row.id ?? uuidv7());
  await app.dataSource.query(
    'INSERT INTO coupon_assignments (id, list_id, campaign_id, code_seq, code, user_id, external_id, assigned_at) VALUES ?',
    [rows.map((row, index) => [ids[index], row.listId, row.campaignId, null, row.code, row.userId, row.externalId ?? null, row.assignedAt])],
  );
  return ids;
}

const DIGITS = '(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)';

/** A derived table `seq(n)` holding 1..count, in MySQL 8 and MariaDB alike. */
export function sequenceTable(count: number): string {
  const places = Math.max(1, Math.ceil(Math.log10(count + 1)));
  const digits = Array.from({ length: places }, (_, i) => `${DIGITS} d${i}`).join(' CROSS JOIN ');
  const value = Array.from({ length: places }, (_, i) => `d${i}.d * ${10 ** i}`).join(' + ');
  return `(SELECT ${value} + 1 AS n FROM ${digits} HAVING n <= ${count}) seq`;
}

/** Polls couponUsageExport until it is COMPLETED or FAILED. */
export async function waitForExport(t: TestApp, id: string, timeoutMs = 30_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await t.gql(`query($id: ID!) { couponUsageExport(id: $id) { ${EXPORT_FIELDS} } }`, { id });
    const row = response.data?.couponUsageExport;
    if (!row) throw new Error(`export ${id}: ${JSON.stringify(response)}`);
    if (row.status === 'COMPLETED' || row.status === 'FAILED') return row;
    if (Date.now() > deadline) throw new Error(`export ${id} still ${row.status}`);
    await sleep(25);
  }
}

export async function requestExport(t: TestApp, variables: Record<string, unknown>, key?: string | null) {
  return t.gql(
    `mutation($listId: ID!, $from: DateTime, $to: DateTime, $campaignId: ID) {
       exportCouponUsage(listId: $listId, from: $from, to: $to, campaignId: $campaignId) { ${EXPORT_FIELDS} }
     }`,
    variables,
    key,
  );
}

/** Requests an export and waits for it to be COMPLETED. */
export async function exportList(t: TestApp, variables: Record<string, unknown>): Promise<any> {
  const response = await requestExport(t, variables);
  if (!response.data) throw new Error(JSON.stringify(response.errors));
  const done = await waitForExport(t, response.data.exportCouponUsage.id);
  if (done.status !== 'COMPLETED') throw new Error(`export failed: ${done.failureReason}`);
  return done;
}

export async function download(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: string }> {
  const response = await fetch(url, { headers });
  return { status: response.status, headers: response.headers, body: await response.text() };
}
