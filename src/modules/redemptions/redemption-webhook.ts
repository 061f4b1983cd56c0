import { WebhookEvent } from '../webhooks/webhook-event.js';
import type { WebhookMessage } from '../webhooks/webhook-outbox.js';
import type { Redemption } from './redemption.types.js';

/** The `coupon.redeemed` message of a new redemption. */
export function redeemedMessage(redemption: Redemption): WebhookMessage {
  return {
    event: WebhookEvent.COUPON_REDEEMED,
    at: redemption.redeemedAt,
    data: {
      redemptionId: redemption.id,
      assignmentId: redemption.assignmentId,
      code: redemption.code,
      listId: redemption.listId,
      campaignId: redemption.campaignId,
      userId: redemption.userId,
      orderId: redemption.orderId,
      redeemedAt: redemption.redeemedAt,
    },
  };
}
