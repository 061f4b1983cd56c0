import { In } from 'typeorm';
import type { AppContext } from '../../app-context.js';
import type { NewAssignment } from '../claims/claim.events.js';
import { SEND_BATCH_QUEUE, SEND_QUEUE, sendBatchJobOptions, sendJob, type SendJobData } from './delivery.jobs.js';
import { Delivery, DeliveryStatus } from './delivery.entity.js';
import type { ListDeliveryService } from './list-delivery.service.js';
import type { ListDeliverySettings } from './list-delivery-settings.entity.js';
import { DeliveryChannel } from './transactional-message.entity.js';
import type { UserProfileService } from './user-profile.service.js';

/** Assignments younger than this are left to the normal after-commit path by the recovery sweep. */
const SWEEP_GRACE_MS = 30_000;
/** How far back the sweep looks the first time (or when its watermark is gone). */
const SWEEP_FIRST_LOOKBACK_MS = 24 * 3600_000;
/** A PENDING delivery untouched this long has lost its job (e.g. Redis was flushed). */
const STALE_PENDING_MS = 15 * 60_000;
const SWEEP_PAGE = 1000;
const INSERT_CHUNK = 1000;

export interface SweepResult {
  enqueued: number;
  requeued: number;
}

/**
 * Turns new assignments into sends: sets the profile attributes, creates the PENDING
 * `deliveries` rows and enqueues, per claim batch, one `delivery-send-batch` job per enabled
 * channel. Runs after the claim has committed and never blocks or fails a claim.
 */
export class DeliveryService {
  constructor(
    private readonly app: AppContext,
    private readonly listDelivery: ListDeliveryService,
    private readonly profiles: UserProfileService,
  ) {}

  /** The CouponsAssigned handler. */
  async onCouponsAssigned(assignments: NewAssignment[]): Promise<void> {
    if (assignments.length === 0) return;
    // After every claim batch: one light read answers the usual case, lists that send nothing.
    const delivering = await this.listDelivery.listsSending(assignments.map((a) => String(a.listId)));
    if (delivering.length === 0) return;
    const settings = await this.listDelivery.rowsFor(delivering);
    // Only lists with a channel on: nothing else is done after a claim from a list that sends nothing.
    const sending = assignments.filter((a) => settings.get(String(a.listId))?.smsEnabled || settings.get(String(a.listId))?.pushEnabled);
    if (sending.length === 0) return;
    await Promise.all([
      this.profiles.recordAssignments(sending),
      this.enqueueSends(sending, settings),
    ]);
  }

  /** Creates the PENDING rows and jobs for the enabled channels of each assignment's list. */
  async enqueueSends(
    assignments: Array<{ id: string; listId: string }>,
    known?: Map<string, ListDeliverySettings>,
  ): Promise<number> {
    const settings = known ?? (await this.listDelivery.rowsFor(assignments.map((a) => String(a.listId))));
    const sends: SendJobData[] = [];
    for (const assignment of assignments) {
      const list = settings.get(String(assignment.listId));
      if (list?.smsEnabled) sends.push({ assignmentId: assignment.id, channel: DeliveryChannel.SMS });
      if (list?.pushEnabled) sends.push({ assignmentId: assignment.id, channel: DeliveryChannel.PUSH });
    }
    await this.enqueue(sends, 'batch');
    return sends.length;
  }

  /**
   * Creates the PENDING rows, then the jobs: one batch job per channel for a claim batch, or one
   * job per send (`single`, the sweep's way: the same job id for the same send, so enqueueing a
   * send that is queued already adds nothing).
   */
  private async enqueue(sends: SendJobData[], mode: 'batch' | 'single'): Promise<void> {
    for (let start = 0; start < sends.length; start += INSERT_CHUNK) {
      const chunk = sends.slice(start, start + INSERT_CHUNK);
      await this.app.dataSource.query(
        `INSERT IGNORE INTO deliveries (assignment_id, channel, status, attempts) VALUES ${chunk.map(() => `(?, ?, '${DeliveryStatus.PENDING}', 0)`).join(', ')}`,
        chunk.flatMap((send) => [send.assignmentId, send.channel]),
      );
      if (mode === 'single') {
        await this.app.queues.queue(SEND_QUEUE).addBulk(chunk.map(sendJob));
        continue;
      }
      const batches = [DeliveryChannel.SMS, DeliveryChannel.PUSH]
        .map((channel) => ({ channel, assignmentIds: chunk.filter((send) => send.channel === channel).map((send) => send.assignmentId) }))
        .filter((batch) => batch.assignmentIds.length > 0);
      await this.app.queues.queue(SEND_BATCH_QUEUE).addBulk(batches.map((data) => ({ name: 'send-batch', data, opts: sendBatchJobOptions })));
    }
  }

  /**
   * The recovery sweep. An after-commit handler runs in the claiming process: a crash between
   * the claim's COMMIT and the enqueue would lose the send. This finds assignments made while a
   * channel was enabled that have no delivery row for it, and PENDING deliveries whose job is
   * gone, and enqueues them again (same job ids, so nothing is sent twice).
   */
  async sweep(now = new Date()): Promise<SweepResult> {
    const watermarkKey = `${this.app.config.QUEUE_PREFIX}:delivery:sweep-watermark`;
    const stored = await this.app.redis.get(watermarkKey);
    const until = new Date(now.getTime() - SWEEP_GRACE_MS);
    // Overlap one grace period: an assignment's time is taken before its commit.
    const since = stored ? new Date(Number(stored) - SWEEP_GRACE_MS) : new Date(now.getTime() - SWEEP_FIRST_LOOKBACK_MS);
    let enqueued = 0;
    let complete = true;
    for (const channel of [DeliveryChannel.SMS, DeliveryChannel.PUSH]) {
      const prefix = channel === DeliveryChannel.SMS ? 'sms' : 'push';
      for (let page = 0; ; page++) {
        const rows: Array<{ id: string }> = await this.app.dataSource.query(
          `SELECT a.id FROM list_delivery_settings s
             JOIN coupon_assignments a ON a.list_id = s.list_id
                                      AND a.assigned_at >= GREATEST(s.${prefix}_enabled_at, ?) AND a.assigned_at < ?
             LEFT JOIN deliveries d ON d.assignment_id = a.id AND d.channel = ?
            WHERE s.${prefix}_enabled = 1 AND d.assignment_id IS NULL
            LIMIT ${SWEEP_PAGE}`,
          [since, until, channel],
        );
        await this.enqueue(rows.map((row) => ({ assignmentId: row.id, channel })), 'single');
        enqueued += rows.length;
        if (rows.length < SWEEP_PAGE) break;
        if (page >= 100) {
          complete = false;
          break;
        }
      }
    }
    if (complete) await this.app.redis.set(watermarkKey, String(until.getTime()), 'EX', 30 * 24 * 3600);
    const requeued = await this.requeueStalePending(now);
    if (enqueued + requeued > 0) this.app.logger.warn({ enqueued, requeued }, 'delivery sweep enqueued sends that had no job');
    return { enqueued, requeued };
  }

  private async requeueStalePending(now: Date): Promise<number> {
    // First attempts waiting in a batch job are PENDING too: while batches are queued, their
    // rows are not lost (a lost job means Redis lost its data, batches included).
    const batches = await this.app.queues.queue(SEND_BATCH_QUEUE).getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    if (Object.values(batches).some((count) => count > 0)) return 0;
    const rows: Array<{ assignment_id: string; channel: DeliveryChannel }> = await this.app.dataSource.query(
      `SELECT assignment_id, channel FROM deliveries WHERE status = ? AND updated_at < ? ORDER BY updated_at LIMIT ${SWEEP_PAGE}`,
      [DeliveryStatus.PENDING, new Date(now.getTime() - STALE_PENDING_MS)],
    );
    // A failed job ended without recording a final outcome (e.g. the database was down): replaced.
    const { requeued } = await this.app.queues.requeueLost(
      SEND_QUEUE,
      rows.map((row) => sendJob({ assignmentId: row.assignment_id, channel: row.channel })),
      { replaceFailed: true },
    );
    return requeued;
  }

  /** CouponAssignment.deliveries for many assignments at once. */
  async deliveriesFor(assignmentIds: string[]): Promise<Map<string, Delivery[]>> {
    const result = new Map<string, Delivery[]>();
    if (assignmentIds.length === 0) return result;
    const rows = await this.app.dataSource.getRepository(Delivery).find({ where: { assignmentId: In(assignmentIds) }, order: { channel: 'ASC' } });
    for (const row of rows) {
      const list = result.get(row.assignmentId) ?? [];
      list.push(row);
      result.set(row.assignmentId, list);
    }
    return result;
  }
}
