import type { JobsOptions } from 'bullmq';
import type { DeliveryChannel } from './transactional-message.entity.js';

/** One assignment on one channel: retries, and sends enqueued by the recovery sweep. */
export const SEND_QUEUE = 'delivery-send';
/** First attempts of a claim batch's assignments on one channel. */
export const SEND_BATCH_QUEUE = 'delivery-send-batch';
/** The periodic recovery sweep. */
export const MAINTENANCE_QUEUE = 'delivery-maintenance';

/** BullMQ forbids ":" in custom ids; one job per assignment and channel, so enqueueing twice adds nothing. */
export const sendJobId = (assignmentId: string, channel: DeliveryChannel) => `${assignmentId}-${channel}`;

/**
 * Gateway retries are scheduled by the sender itself (counted in `deliveries.attempts`); BullMQ's
 * own attempts only cover unexpected errors such as the database being away.
 */
const UNEXPECTED_ERROR_RETRIES: JobsOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 5000 },
  removeOnComplete: true,
  removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
};

export function sendJobOptions(assignmentId: string, channel: DeliveryChannel): JobsOptions {
  return { ...UNEXPECTED_ERROR_RETRIES, jobId: sendJobId(assignmentId, channel) };
}

export const sendBatchJobOptions: JobsOptions = UNEXPECTED_ERROR_RETRIES;
