import { DelayedError, type Job } from 'bullmq';
import type { AppContext } from '../../app-context.js';
import { DeliveryRecorder, type AttemptOutcome } from './delivery-recorder.js';
import { DeliveryStatus } from './delivery.entity.js';
import { SEND_QUEUE, sendJob, type SendBatchJobData, type SendJobData } from './delivery.jobs.js';
import { GATEWAY_VARIABLE, gatewayUrl } from './list-delivery.service.js';
import { GatewayClient, GatewayTimeoutError } from './gateway-client.js';
import { fillMessage } from './message-template.js';
import { DeliveryChannel } from './transactional-message.entity.js';

/** The gateway's idempotency key for one assignment on one channel (the contract's header). */
export const idempotencyKey = (assignmentId: string, channel: DeliveryChannel) => `${assignmentId}:${channel}`;

interface SendContext {
  id: string;
  user_id: string;
  code: string;
  list_id: string;
  expires_at: Date | null;
  status: DeliveryStatus | null;
  attempts: number | null;
  sms_enabled: number | null;
  push_enabled: number | null;
  body: string | null;
  phone_number: string | null;
  push_token: string | null;
}

interface GatewayResult {
  outcome: AttemptOutcome;
  httpStatus: number | null;
  error: string | null;
}

const RESPONSE_EXCERPT = 200;

/** 408 and 429 say "try again later" by definition; every other 4xx is final. */
const RETRYABLE_4XX = new Set([408, 429]);

function describeNetworkError(error: unknown): string {
  if (error instanceof GatewayTimeoutError) return error.message;
  const { code, message } = error as { code?: string; message?: string };
  return `network error: ${code ?? message ?? String(error)}`;
}

/** At most `limit` promises of `run` at once (gateway requests of all batches of this process). */
class Semaphore {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await work();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

/**
 * Sends assignments on a channel. First attempts come in batches (`delivery-send-batch`, one
 * job per claim batch: one query loads them all); each retry is a job of its own
 * (`delivery-send`, id `<assignmentId>-<channel>`) delayed by the backoff. Idempotent: a delivery
 * already SENT or FAILED is left alone, and the gateway gets the same Idempotency-Key on every
 * attempt.
 */
export class DeliverySender {
  private readonly recorder: DeliveryRecorder;
  private readonly requests: Semaphore;
  private readonly gateway: GatewayClient;

  constructor(private readonly app: AppContext) {
    this.recorder = new DeliveryRecorder(app);
    this.requests = new Semaphore(app.config.DELIVERY_CONCURRENCY);
    // Batches and retries each send up to DELIVERY_CONCURRENCY requests at once.
    this.gateway = new GatewayClient(app.config.DELIVERY_CONCURRENCY * 2);
  }

  close(): void {
    this.gateway.close();
  }

  /** Exponential backoff with 20 % jitter: base, 2 × base, 4 × base, … */
  backoffMs(attempt: number): number {
    const delay = this.app.config.DELIVERY_RETRY_BASE_MS * 2 ** (attempt - 1);
    return Math.round(delay * (0.8 + Math.random() * 0.2));
  }

  private async load(channel: DeliveryChannel, assignmentIds: string[]): Promise<SendContext[]> {
    const prefix = channel === DeliveryChannel.SMS ? 'sms' : 'push';
    return this.app.dataSource.query(
      `SELECT a.id, a.user_id, a.code, a.list_id, l.expires_at, d.status, d.attempts,
              s.sms_enabled, s.push_enabled, m.body, p.phone_number, p.push_token
         FROM coupon_assignments a
         JOIN coupon_lists l ON l.id = a.list_id
         LEFT JOIN deliveries d ON d.assignment_id = a.id AND d.channel = ?
         LEFT JOIN list_delivery_settings s ON s.list_id = a.list_id
         LEFT JOIN transactional_messages m ON m.id = s.${prefix}_message_id
         LEFT JOIN user_profiles p ON p.user_id = a.user_id
        WHERE a.id IN (?)`,
      [channel, assignmentIds],
    );
  }

  /** A `delivery-send` job: one assignment, a retry (or a send enqueued by the recovery sweep). */
  async process(job: Job<SendJobData>, token?: string): Promise<DeliveryStatus | 'GONE'> {
    const { assignmentId, channel } = job.data;
    const [context] = await this.load(channel, [assignmentId]);
    if (!context) return 'GONE';
    if (context.status === DeliveryStatus.SENT || context.status === DeliveryStatus.FAILED) return context.status;
    const { outcome, attempt } = await this.send(context, channel);
    if (outcome === 'RETRY') {
      // Retried by delaying this same job (a retry is expected, not a job failure to report).
      await job.moveToDelayed(Date.now() + this.backoffMs(attempt), token);
      throw new DelayedError();
    }
    return outcome === 'SENT' ? DeliveryStatus.SENT : DeliveryStatus.FAILED;
  }

  /** A `delivery-send-batch` job: first attempts; the ones to retry get a delayed job each. */
  async processBatch(job: Job<SendBatchJobData>): Promise<{ sent: number; failed: number; retrying: number }> {
    const { channel, assignmentIds } = job.data;
    const contexts = await this.load(channel, assignmentIds);
    // A send with attempts already made belongs to its retry job (this batch is running again).
    const firstAttempts = contexts.filter((context) => context.status === null || (context.status === DeliveryStatus.PENDING && !Number(context.attempts)));
    const results = await Promise.all(
      firstAttempts.map(async (context) => ({ context, ...(await this.requests.run(() => this.send(context, channel))) })),
    );
    const retries = results.filter((result) => result.outcome === 'RETRY');
    if (retries.length > 0) {
      await this.app.queues.queue(SEND_QUEUE).addBulk(
        retries.map(({ context, attempt }) => {
          const job = sendJob({ assignmentId: context.id, channel });
          return { ...job, opts: { ...job.opts, delay: this.backoffMs(attempt) } };
        }),
      );
    }
    return {
      sent: results.filter((result) => result.outcome === 'SENT').length,
      failed: results.filter((result) => result.outcome === 'FAILED').length,
      retrying: retries.length,
    };
  }

  /** One attempt, recorded (the deliveries row and a delivery_attempts row). */
  private async send(context: SendContext, channel: DeliveryChannel): Promise<{ outcome: AttemptOutcome; attempt: number }> {
    // Attempts are counted in the database, so a re-enqueued or resumed send keeps its count.
    const attempt = Number(context.attempts ?? 0) + 1;
    const finalAttempt = attempt >= this.app.config.DELIVERY_MAX_ATTEMPTS;
    const result = await this.attempt(context, channel);
    const outcome: AttemptOutcome = result.outcome === 'RETRY' && finalAttempt ? 'FAILED' : result.outcome;
    const error =
      outcome === 'FAILED' && result.outcome === 'RETRY' ? `gave up after ${attempt} attempt${attempt > 1 ? 's' : ''}: ${result.error}` : result.error;
    await this.recorder.record({ assignmentId: context.id, channel, attempt, outcome, httpStatus: result.httpStatus, error, at: new Date() });
    this.app.metrics.deliverySends.inc({ channel, outcome });
    return { outcome, attempt };
  }

  /** One try; says whether it worked, failed for good, or is worth retrying. */
  private async attempt(context: SendContext, channel: DeliveryChannel): Promise<GatewayResult> {
    const fail = (error: string): GatewayResult => ({ outcome: 'FAILED', httpStatus: null, error });
    const url = gatewayUrl(this.app, channel);
    if (!url) return fail(`the ${channel} gateway is not configured (${GATEWAY_VARIABLE[channel]} is not set)`);
    const enabled = channel === DeliveryChannel.SMS ? context.sms_enabled : context.push_enabled;
    if (!Number(enabled)) return fail(`${channel} delivery was turned off for coupon list ${context.list_id} before the send`);
    if (context.body == null) return fail(`coupon list ${context.list_id} has no ${channel} message`);
    const to = channel === DeliveryChannel.SMS ? context.phone_number : context.push_token;
    if (!to) {
      const what = channel === DeliveryChannel.SMS ? 'phone number' : 'push token';
      return fail(`user ${JSON.stringify(context.user_id)} has no ${what} in their profile`);
    }

    const timeoutMs = this.app.config.DELIVERY_TIMEOUT_MS;
    const payload = { to, body: fillMessage(context.body, context.code, context.expires_at), userId: context.user_id, assignmentId: context.id };
    const stopTimer = this.app.metrics.deliverySendDuration.startTimer({ channel });
    try {
      const response = await this.gateway.post(url, { 'idempotency-key': idempotencyKey(context.id, channel) }, JSON.stringify(payload), timeoutMs);
      if (response.status >= 200 && response.status < 300) return { outcome: 'SENT', httpStatus: response.status, error: null };
      const excerpt = response.excerpt.trim().slice(0, RESPONSE_EXCERPT);
      const error = `the gateway answered HTTP ${response.status}${excerpt ? `: ${excerpt}` : ''}`;
      const retry = response.status >= 500 || RETRYABLE_4XX.has(response.status);
      return { outcome: retry ? 'RETRY' : 'FAILED', httpStatus: response.status, error };
    } catch (error) {
      return { outcome: 'RETRY', httpStatus: null, error: describeNetworkError(error) };
    } finally {
      stopTimer();
    }
  }
}
