import { registerEnumType } from 'type-graphql';

export enum WebhookEvent {
  COUPON_ASSIGNED = 'COUPON_ASSIGNED',
  COUPON_REDEEMED = 'COUPON_REDEEMED',
  LIST_LOW_STOCK = 'LIST_LOW_STOCK',
  LIST_EXHAUSTED = 'LIST_EXHAUSTED',
  LIST_EXPIRED = 'LIST_EXPIRED',
  LIST_REPLENISHED = 'LIST_REPLENISHED',
  CAMPAIGN_FINISHED = 'CAMPAIGN_FINISHED',
  CODE_UPLOAD_COMPLETED = 'CODE_UPLOAD_COMPLETED',
  CODE_UPLOAD_FAILED = 'CODE_UPLOAD_FAILED',
  EXPORT_COMPLETED = 'EXPORT_COMPLETED',
}
registerEnumType(WebhookEvent, { name: 'WebhookEvent', description: 'What a webhook endpoint subscribes to; each has a `type` on the wire (e.g. coupon.assigned).' });

/** The `type` of each event in the JSON body. */
export const WEBHOOK_TYPE: Record<WebhookEvent, string> = {
  COUPON_ASSIGNED: 'coupon.assigned',
  COUPON_REDEEMED: 'coupon.redeemed',
  LIST_LOW_STOCK: 'coupon_list.low_stock',
  LIST_EXHAUSTED: 'coupon_list.exhausted',
  LIST_EXPIRED: 'coupon_list.expired',
  LIST_REPLENISHED: 'coupon_list.replenished',
  CAMPAIGN_FINISHED: 'campaign.finished',
  CODE_UPLOAD_COMPLETED: 'code_upload.completed',
  CODE_UPLOAD_FAILED: 'code_upload.failed',
  EXPORT_COMPLETED: 'export.completed',
};

export const WEBHOOK_EVENTS = Object.values(WebhookEvent);
