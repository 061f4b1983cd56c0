import type { Job, JobsOptions } from 'bullmq';
import type { AppContext } from '../../app-context.js';
import type { RecoverableJob } from '../../infra/queue/queue-registry.js';
import type { DeliveryChannel } from './transactional-message.entity.js';

/** One assignment on one channel: retries, and sends enqueued by the recovery sweep. */
export const SEND_QUEUE = 'delivery-send';
/** First attempts of a claim batch's assignments on one channel. */
export const SEND_BATCH_QUEUE = 'delivery-send-batch';
/** The periodic recovery sweep. */
export const MAINTENANCE_QUEUE = 'delivery-maintenance';

export interface SendJobData {
  assignmentId: string;
  channel: DeliveryChannel;
}

/** Sends of one channel for many assignments (one CouponsAssigned batch): their first attempt. */
export interface SendBatchJobData {
  channel: DeliveryChannel;
  assignmentIds: string[];
}

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

export function sendJobOptions(assignmentId: string, channel: DeliveryChannel): JobsOptions & { jobId: string } {
  return { ...UNEXPECTED_ERROR_RETRIES, jobId: sendJobId(assignmentId, channel) };
}

/** The `delivery-send` job of one send (a retry, or a send the sweep enqueues). */
export function sendJob(send: SendJobData): RecoverableJob<SendJobData> {
  return { name: 'send', data: { assignmentId: send.assignmentId, channel: send.channel }, opts: sendJobOptions(send.assignmentId, send.channel) };
}

export const sendBatchJobOptions: JobsOptions = UNEXPECTED_ERROR_RETRIES;

export interface DeliveryProcessors {
  sendBatch(job: Job<SendBatchJobData>): Promise<unknown>;
  send(job: Job<SendJobData>, token?: string): Promise<unknown>;
  sweep(): Promise<unknown>;
}

/** The delivery workers and the periodic recovery sweep (worker processes only). */
export async function startDeliveryWorkers(app: AppContext, processors: DeliveryProcessors): Promise<void> {
  // Sends wait on the gateway, not on this process: many at once (DELIVERY_CONCURRENCY requests in batches, as many retries).
  app.queues.worker<SendBatchJobData>(SEND_BATCH_QUEUE, (job) => processors.sendBatch(job), { concurrency: 8 });
  app.queues.worker<SendJobData>(SEND_QUEUE, (job, token) => processors.send(job, token), { concurrency: app.config.DELIVERY_CONCURRENCY });
  await app.queues.scheduleSweep(MAINTENANCE_QUEUE, 'delivery-sweep', app.config.DELIVERY_SWEEP_INTERVAL_SECONDS * 1000, () => processors.sweep());
}
