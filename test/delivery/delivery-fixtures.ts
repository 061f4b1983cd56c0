import type { AppContext } from '../../src/app-context';
import { SEND_BATCH_QUEUE, SEND_QUEUE } from '../../src/modules/delivery/delivery.jobs';
import type { TestApp } from '../helpers/test-app';
import { eventually, settled } from '../helpers/fixtures';

export const DELIVERY_FIELDS = 'channel status sentAt error attempts';

export async function gqlData<T = any>(t: TestApp, query: string, variables: Record<string, unknown> = {}, key?: string | null): Promise<T> {
  const response = await t.gql(query, variables, key);
  if (!response.data || response.errors) throw new Error(JSON.stringify(response.errors));
  return response.data as T;
}

export async function createMessage(t: TestApp, channel: 'SMS' | 'PUSH', body: string, active = true): Promise<string> {
  const data = await gqlData(t, `mutation($input: CreateTransactionalMessageInput!) { createTransactionalMessage(input: $input) { id } }`, {
    input: { channel, name: `${channel} message`, body, active },
  });
  return data.createTransactionalMessage.id;
}

export async function setDelivery(t: TestApp, listId: string, input: Record<string, unknown>) {
  return t.gql(
    `mutation($listId: ID!, $input: DeliverySettingsInput!) { setListDelivery(listId: $listId, input: $input) { id delivery { smsEnabled pushEnabled smsMessage { id } pushMessage { id } } } }`,
    { listId, input },
  );
}

export async function upsertProfile(t: TestApp, input: Record<string, unknown>) {
  return t.gql(`mutation($input: UserProfileInput!) { upsertUserProfile(input: $input) { userId externalId phoneNumber pushToken attributes } }`, { input });
}

export { appendCodes, createCampaign, createList } from '../helpers/fixtures';

export const CLAIM = `mutation($input: ClaimCouponInput!) { claimCoupon(input: $input) { id code listId userId assignedAt expiresAt reused } }`;

export async function claim(t: TestApp, campaignId: string, userId: string): Promise<{ id: string; code: string; reused: boolean; expiresAt: string | null }> {
  const data = await gqlData(t, CLAIM, { input: { campaignId, userId } });
  return data.claimCoupon;
}

export async function deliveryRows(app: AppContext, assignmentId: string): Promise<Array<{ channel: string; status: string; attempts: number; error: string | null; sent_at: Date | null }>> {
  return app.dataSource.query('SELECT channel, status, attempts, error, sent_at FROM deliveries WHERE assignment_id = ? ORDER BY channel', [assignmentId]);
}

export async function attemptRows(app: AppContext, assignmentId: string, channel: string): Promise<Array<{ attempt: number; outcome: string; http_status: number | null; error: string | null }>> {
  return app.dataSource.query('SELECT attempt, outcome, http_status, error FROM delivery_attempts WHERE assignment_id = ? AND channel = ? ORDER BY id', [assignmentId, channel]);
}

/** Waits until every delivery of the assignment has a final status (SENT or FAILED). */
export async function finalDeliveries(app: AppContext, assignmentId: string, expected: number, timeoutMs = 10_000) {
  return eventually(
    async () => {
      const rows = await deliveryRows(app, assignmentId);
      if (rows.length === expected && rows.every((row) => row.status !== 'PENDING')) return rows;
      throw new Error(`not final yet: ${JSON.stringify(rows)}`);
    },
    timeoutMs,
    `the deliveries of ${assignmentId} to be final`,
  );
}

/**
 * Waits until nothing more is going to be sent: every after-commit handler has run and the send
 * queues hold no job (delayed retries included), so a send that should not happen would have.
 */
export function sendsSettled(app: AppContext): Promise<void> {
  return settled([app], [SEND_BATCH_QUEUE, SEND_QUEUE], 10_000);
}
