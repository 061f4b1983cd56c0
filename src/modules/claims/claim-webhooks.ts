import type { FinishReason } from '../campaigns/campaign.entity.js';
import { campaignFinishedMessage } from '../campaigns/campaign-finishing.js';
import { WebhookEvent } from '../webhooks/webhook-event.js';
import type { WebhookMessage } from '../webhooks/webhook-outbox.js';
import type { NewAssignment } from './claim.events.js';

/**
 * The webhook messages of one committed claim batch (new assignments, lists it exhausted,
 * campaigns it finished), of the event types in `subscribed`.
 */
export function claimBatchWebhookMessages(
  subscribed: { has(event: WebhookEvent): boolean },
  assignments: NewAssignment[],
  exhausted: Array<{ id: string; name: string; totalCodes: number; assignedCodes: number }>,
  finished: Array<{ id: string; reason: FinishReason }>,
  at: Date,
): WebhookMessage[] {
  return [
    ...(subscribed.has(WebhookEvent.COUPON_ASSIGNED) ? assignments : []).map((assignment) => ({
      event: WebhookEvent.COUPON_ASSIGNED,
      at,
      data: {
        assignmentId: assignment.id,
        code: assignment.code,
        listId: assignment.listId,
        campaignId: assignment.campaignId,
        userId: assignment.userId,
        externalId: assignment.externalId,
        assignedAt: assignment.assignedAt,
      },
    })),
    ...(subscribed.has(WebhookEvent.LIST_EXHAUSTED) ? exhausted : []).map((list) => ({
      event: WebhookEvent.LIST_EXHAUSTED,
      at,
      data: { listId: list.id, listName: list.name, totalCodes: list.totalCodes, assignedCodes: list.assignedCodes, availableCodes: 0 },
    })),
    ...(subscribed.has(WebhookEvent.CAMPAIGN_FINISHED) ? finished : []).map((campaign) => campaignFinishedMessage(campaign.id, campaign.reason, at)),
  ];
}
