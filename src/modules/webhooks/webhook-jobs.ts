import type { JobsOptions } from 'bullmq';
import type { AppContext } from '../../app-context.js';

/** Outbox rows → delivery rows (one job at a time is enough; SKIP LOCKED lets several workers share). */
export const WEBHOOK_DISPATCH_QUEUE = 'webhook-dispatch';
/** One job per endpoint (id endpoint-<id>): sends that endpoint's due deliveries, so endpoints never wait on each other. */
export const WEBHOOK_SEND_QUEUE = 'webhook-send';
/** The periodic sweep: outbox rows and due deliveries whose job was lost. */
export const WEBHOOK_SWEEP_QUEUE = 'webhook-sweep';
/** Hourly: deletes messages past WEBHOOK_RETENTION_DAYS whose deliveries are final, with their deliveries and attempts. */
export const WEBHOOK_RETENTION_QUEUE = 'webhook-retention';
const RETENTION_EVERY_MS = 3_600_000;
/** The e-mail telling an endpoint's owners it was disabled. */
export const WEBHOOK_ALERT_MAIL_QUEUE = 'webhook-alert-mail';

export interface SendJobData {
  endpointId: string;
}
export interface AlertMailJobData {
  endpointId: string;
  to: string;
  url: string;
  reason: string;
}

/** How many endpoints one worker process serves at once (each with its own parallel requests). */
const ENDPOINTS_AT_ONCE = 32;

/** One job per endpoint while it is queued or running: kicks while it runs are covered by its loop and the sweep. */
export function sendJobOptions(endpointId: string): JobsOptions {
  return { jobId: `endpoint-${endpointId}`, removeOnComplete: true, removeOnFail: true };
}

export const dispatchJobOptions: JobsOptions = { jobId: 'dispatch', removeOnComplete: true, removeOnFail: true };

export function alertMailJobOptions(endpointId: string, disabledAt: Date, to: string): JobsOptions {
  return {
    jobId: `webhook-disabled-${endpointId}-${disabledAt.getTime()}-${Buffer.from(to).toString('hex').slice(0, 40)}`,
    attempts: 8,
    backoff: { type: 'exponential', delay: 5000 },
    removeOnComplete: { count: 1000 },
    removeOnFail: { count: 1000 },
  };
}

/** What the webhook workers run (given by webhooks.module.ts, so this file needs none of the services). */
export interface WebhookProcessors {
  dispatcher: { dispatchAll(): Promise<unknown>; sweep(): Promise<unknown> };
  sender: { sendDue(endpointId: string): Promise<unknown>; close(): void };
  mailer: { deliver(to: string, mail: { subject: string; text: string }): Promise<void> };
  retention: { run(): Promise<unknown> };
}

/** Starts the webhook workers and the sweep (worker processes only). */
export async function startWebhookWorkers(app: AppContext, { dispatcher, sender, mailer, retention }: WebhookProcessors): Promise<void> {
  app.onShutdown(() => sender.close());
  app.queues.worker(WEBHOOK_DISPATCH_QUEUE, () => dispatcher.dispatchAll(), { concurrency: 1 });
  app.queues.worker<SendJobData>(WEBHOOK_SEND_QUEUE, (job) => sender.sendDue(job.data.endpointId), {
    concurrency: ENDPOINTS_AT_ONCE,
    // A killed worker's endpoint job is taken over within about 15 s (its deliveries' lease is as long).
    lockDuration: 15_000,
    stalledInterval: 5_000,
    maxStalledCount: 1000,
  });
  app.queues.worker<AlertMailJobData>(WEBHOOK_ALERT_MAIL_QUEUE, (job) =>
    mailer.deliver(job.data.to, {
      subject: `Webhook endpoint disabled: ${job.data.url}`,
      text: [
        `The webhook endpoint ${job.data.url} (id ${job.data.endpointId}) was disabled.`,
        '',
        `Reason: ${job.data.reason}`,
        '',
        'While disabled it receives nothing. Fix the receiver, then enable the endpoint again (updateWebhookEndpoint with enabled: true).',
      ].join('\n'),
    }),
  );
  app.queues.worker(WEBHOOK_SWEEP_QUEUE, () => dispatcher.sweep(), { concurrency: 1 });
  await app.queues.queue(WEBHOOK_SWEEP_QUEUE).upsertJobScheduler('webhook-sweep', { every: app.config.WEBHOOK_SWEEP_INTERVAL_MS }, {
    name: 'sweep',
    opts: { removeOnComplete: true, removeOnFail: 100 },
  });
  app.queues.worker(WEBHOOK_RETENTION_QUEUE, () => retention.run(), { concurrency: 1 });
  await app.queues.queue(WEBHOOK_RETENTION_QUEUE).upsertJobScheduler('webhook-retention', { every: RETENTION_EVERY_MS }, {
    name: 'retention',
    opts: { removeOnComplete: true, removeOnFail: 100 },
  });
  // Messages committed while no worker ran.
  await dispatcher.sweep().catch((error: unknown) => app.logger.warn({ err: error }, 'webhook sweep at start-up failed'));
}
