import type { CouponListSnapshot } from '../lists/coupon-list.events.js';
import { WebhookEvent } from '../webhooks/webhook-event.js';
import type { WebhookMessage } from '../webhooks/webhook-outbox.js';
import type { CodeUpload } from './code-upload.entity.js';

/** code_upload.completed, and coupon_list.replenished when the upload gave an empty list codes again. */
export function uploadCompletedMessages(
  upload: Pick<CodeUpload, 'id' | 'listId' | 'fileName' | 'mode'>,
  availableBefore: number,
  after: CouponListSnapshot,
  codesAdded: number,
  duplicatesSkipped: number,
): WebhookMessage[] {
  const messages: WebhookMessage[] = [
    {
      event: WebhookEvent.CODE_UPLOAD_COMPLETED,
      data: {
        uploadId: upload.id,
        listId: upload.listId,
        fileName: upload.fileName,
        mode: upload.mode,
        codesAdded,
        duplicatesSkipped,
        totalCodes: after.totalCodes,
        availableCodes: after.availableCodes,
      },
    },
  ];
  if (availableBefore <= 0 && after.availableCodes > 0) {
    messages.push({
      event: WebhookEvent.LIST_REPLENISHED,
      data: { listId: after.id, listName: after.name, totalCodes: after.totalCodes, assignedCodes: after.assignedCodes, availableCodes: after.availableCodes },
    });
  }
  return messages;
}
