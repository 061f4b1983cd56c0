import type { Job } from 'bullmq';
import type { AppContext } from '../../app-context.js';
import {
  BadUserInputError,
  CampaignFinishedError,
  DomainError,
  ListExhaustedError,
  ListExpiredError,
  NotFoundError,
} from '../../common/errors.js';
import { isRowId } from '../../common/ids.js';
import { CampaignKind, CampaignStatus } from '../campaigns/campaign.entity.js';
import type { CampaignService } from '../campaigns/campaign.service.js';
import type { ClaimService } from '../claims/claim.service.js';
import type { CouponAssignment } from '../claims/coupon-assignment.entity.js';
import { requireUserId } from '../delivery/user-profile.service.js';
import { DistributionJob, DistributionStatus } from './distribution-job.entity.js';
import { distributeJob, DISTRIBUTION_QUEUE, enqueueDistribution, type DistributionJobData } from './distribution.jobs.js';
import type { InteractiveLoad } from './interactive-load.js';

export const MAX_DISTRIBUTION_USERS = 10_000;
/** Users read, claimed and recorded together; a crash repeats at most this many claims (which then come back `reused`). */
const CHUNK = 500;
const INSERT_CHUNK = 1000;
const QUEUED_GRACE_MS = 60_000;
const STALLED_RUNNING_MS = 10 * 60_000;

/** Interactive claims per second (widgets, in any API process) above which bulk distribution gives way. */
const YIELD_ABOVE_PER_SECOND = 50;
const IDLE_WINDOW_MS = 20;
const BUSY_WINDOW_MS = 250;

/**
 * Spaces out distribution claims (per process, over all its distributions): at most
 * `DISTRIBUTION_CLAIMS_PER_SECOND`, and `DISTRIBUTION_BUSY_CLAIMS_PER_SECOND` while widgets are
 * claiming. Bulk work is not urgent; a widget's user waits for the answer (and gateways have
 * throughput limits too).
 */
class ClaimPacer {
  private windowStart = 0;
  private windowMs = IDLE_WINDOW_MS;
  private used = 0;
  private perWindow = 1;

  constructor(
    private readonly perSecond: number,
    private readonly busyPerSecond: number,
    private readonly interactivePerSecond: () => Promise<number>,
  ) {}

  async take(): Promise<void> {
    for (;;) {
      const now = Date.now();
      if (now - this.windowStart >= this.windowMs) {
        this.windowStart = now;
        this.used = 0;
        const busy = (await this.interactivePerSecond()) >= YIELD_ABOVE_PER_SECOND;
        const perSecond = busy ? Math.min(this.busyPerSecond, this.perSecond) : this.perSecond;
        // While widgets claim, the claims go out in fewer, larger groups: one claim transaction
        // and one send batch per window instead of many small ones competing with every widget
        // claim for the database and the CPU.
        this.windowMs = busy ? BUSY_WINDOW_MS : IDLE_WINDOW_MS;
        this.perWindow = Math.max(1, Math.round((perSecond * this.windowMs) / 1000));
      }
      if (this.used < this.perWindow) {
        this.used++;
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(1, this.windowStart + this.windowMs - Date.now())));
    }
  }
}

type Outcome = 'ASSIGNED' | 'REUSED' | 'FAILED' | 'NOT_SERVED';

interface UserResult {
  position: number;
  userId: string;
  outcome: Outcome | null;
  assignmentId: string | null;
  error: string | null;
}

/** Refusals that mean the campaign cannot serve anyone any more: the distribution stops. */
function isStop(error: unknown): error is DomainError {
  return error instanceof ListExhaustedError || error instanceof ListExpiredError || error instanceof CampaignFinishedError;
}

/**
 * Bulk distribution for AUTOMATED campaigns. The API stores the users in MySQL
 * (`distribution_job_users`) and queues one job; a worker claims for each user through the
 * claim engine (same rules as claimCoupon; concurrent claims are batched there) and records each
 * outcome. New assignments are sent by the usual CouponsAssigned path. A job that dies resumes
 * with the users that have no outcome yet.
 */
export class DistributionService {
  private readonly pacer: ClaimPacer | null;
  /** Campaigns this process is distributing (their assignments are not interactive load). */
  private readonly distributing = new Map<string, number>();

  constructor(
    private readonly app: AppContext,
    private readonly campaigns: CampaignService,
    private readonly claims: ClaimService,
    load: InteractiveLoad,
  ) {
    const perSecond = app.config.DISTRIBUTION_CLAIMS_PER_SECOND;
    this.pacer = perSecond > 0 ? new ClaimPacer(perSecond, app.config.DISTRIBUTION_BUSY_CLAIMS_PER_SECOND, () => load.perSecond()) : null;
  }

  isDistributing(campaignId: string): boolean {
    return this.distributing.has(String(campaignId));
  }

  async find(id: string): Promise<DistributionJob | null> {
    if (!isRowId(id)) return null;
    return this.app.dataSource.getRepository(DistributionJob).findOne({ where: { id } });
  }

  async start(campaignId: string, userIds: string[]): Promise<DistributionJob> {
    if (!isRowId(campaignId)) throw new BadUserInputError('campaignId', `expected an id like "42", got ${JSON.stringify(campaignId)}`);
    if (userIds.length === 0) throw new BadUserInputError('userIds', 'name at least one user');
    if (userIds.length > MAX_DISTRIBUTION_USERS) {
      throw new BadUserInputError('userIds', `at most ${MAX_DISTRIBUTION_USERS.toLocaleString('en-US')} users per call (got ${userIds.length}); split them over several calls`);
    }
    userIds.forEach((userId, index) => requireUserId(`userIds[${index}]`, userId));
    // A user named twice is served once.
    const users = [...new Set(userIds)];

    const campaign = await this.campaigns.findById(campaignId);
    if (!campaign) throw new NotFoundError('Campaign', campaignId);
    if (campaign.kind !== CampaignKind.AUTOMATED) {
      throw new BadUserInputError('campaignId', `campaign ${campaignId} is a ${campaign.kind} campaign; bulk distribution is for AUTOMATED campaigns`);
    }
    if (campaign.status === CampaignStatus.FINISHED) throw new CampaignFinishedError(campaignId, campaign.finishReason);

    const createdAt = new Date();
    const id = await this.app.transaction(async (tx) => {
      const inserted: { insertId: number } = await tx.query(
        'INSERT INTO distribution_jobs (campaign_id, status, total, created_at, updated_at) VALUES (?, ?, ?, ?, ?)',
        [campaignId, DistributionStatus.QUEUED, users.length, createdAt, createdAt],
      );
      const jobId = String(inserted.insertId);
      for (let start = 0; start < users.length; start += INSERT_CHUNK) {
        const chunk = users.slice(start, start + INSERT_CHUNK);
        await tx.query(
          `INSERT INTO distribution_job_users (job_id, position, user_id) VALUES ${chunk.map(() => '(?, ?, ?)').join(', ')}`,
          chunk.flatMap((userId, offset) => [jobId, start + offset, userId]),
        );
      }
      return jobId;
    });
    // If this fails the job stays QUEUED and the resume sweep enqueues it.
    await enqueueDistribution(this.app.queues, id).catch((error: unknown) =>
      this.app.logger.error({ err: error, distributionId: id }, 'distribution not queued yet'),
    );
    // The row as written (the worker may have moved on already: distributionJob(id) tells).
    return Object.assign(new DistributionJob(), {
      id,
      campaignId,
      status: DistributionStatus.QUEUED,
      total: users.length,
      processed: 0,
      assigned: 0,
      reused: 0,
      failed: 0,
      notServed: 0,
      stopReason: null,
      createdAt,
      startedAt: null,
      completedAt: null,
      updatedAt: createdAt,
    });
  }

  /**
   * Distributions whose BullMQ job is gone: never queued (the enqueue after commit failed), or
   * RUNNING without progress for long (Redis lost its data). Queued again under the same job id,
   * which adds nothing while the job still exists.
   */
  async resumeLost(): Promise<number> {
    const rows: Array<{ id: string }> = await this.app.dataSource.query(
      `SELECT id FROM distribution_jobs
        WHERE (status = ? AND updated_at < ?) OR (status = ? AND updated_at < ?)
        LIMIT 100`,
      [DistributionStatus.QUEUED, new Date(Date.now() - QUEUED_GRACE_MS), DistributionStatus.RUNNING, new Date(Date.now() - STALLED_RUNNING_MS)],
    );
    const { requeued } = await this.app.queues.requeueLost(DISTRIBUTION_QUEUE, rows.map((row) => distributeJob(String(row.id))));
    return requeued;
  }

  /** The `distribution` job. */
  async run(job: Job<DistributionJobData>): Promise<DistributionStatus> {
    const id = job.data.distributionId;
    const distribution = await this.find(id);
    if (!distribution) return DistributionStatus.FAILED;
    if (![DistributionStatus.QUEUED, DistributionStatus.RUNNING].includes(distribution.status)) return distribution.status;
    const resumed = distribution.status === DistributionStatus.RUNNING;
    await this.app.dataSource.query(
      `UPDATE distribution_jobs SET status = ?, started_at = COALESCE(started_at, UTC_TIMESTAMP(3)) WHERE id = ? AND status IN (?, ?)`,
      [DistributionStatus.RUNNING, id, DistributionStatus.QUEUED, DistributionStatus.RUNNING],
    );
    // A RUNNING row got its started_at with that status: the claims since then are this distribution's.
    const resumedSince = resumed ? distribution.startedAt : null;
    const campaignId = String(distribution.campaignId);
    this.distributing.set(campaignId, (this.distributing.get(campaignId) ?? 0) + 1);
    try {
      let firstChunk = true;
      let processed = distribution.processed;
      // Chunks follow each other in position order: each read starts after the last one.
      let after = -1;
      for (;;) {
        const users: Array<{ position: number; user_id: string }> = await this.app.dataSource.query(
          'SELECT position, user_id FROM distribution_job_users WHERE job_id = ? AND position > ? AND outcome IS NULL ORDER BY position LIMIT ?',
          [id, after, CHUNK],
        );
        if (users.length === 0) return await this.finish(id, DistributionStatus.COMPLETED, null);
        after = Number(users[users.length - 1].position);
        const { results, stop, unexpected } = await this.claimAll(distribution.campaignId, users, firstChunk ? resumedSince : null);
        firstChunk = false;
        processed += await this.recordOutcomes(id, results.filter((result) => result.outcome !== null));
        await job.updateProgress({ processed, total: distribution.total });
        if (stop) {
          await this.markRemainingNotServed(id);
          return await this.finish(id, DistributionStatus.STOPPED, `stopped early: ${stop.message}`);
        }
        // Unexpected errors (e.g. the database went away): the job is retried and resumes here.
        if (unexpected) throw unexpected;
      }
    } catch (error) {
      const finalAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      if (finalAttempt) {
        await this.markRemainingNotServed(id);
        await this.finish(id, DistributionStatus.FAILED, `gave up after repeated errors: ${(error as Error).message}`);
      }
      throw error;
    } finally {
      const left = (this.distributing.get(campaignId) ?? 1) - 1;
      if (left > 0) this.distributing.set(campaignId, left);
      else this.distributing.delete(campaignId);
    }
  }

  /** Claims for every user, `DISTRIBUTION_CLAIM_CONCURRENCY` at a time; stops starting claims once one says the campaign cannot serve. */
  private async claimAll(
    campaignId: string,
    users: Array<{ position: number; user_id: string }>,
    resumedSince: Date | null,
  ): Promise<{ results: UserResult[]; stop: DomainError | null; unexpected: Error | null }> {
    const results: UserResult[] = users.map((user) => ({ position: Number(user.position), userId: user.user_id, outcome: null, assignmentId: null, error: null }));
    let stop: DomainError | null = null;
    let unexpected: Error | null = null;
    let next = 0;
    const worker = async () => {
      while (next < results.length && !stop && !unexpected) {
        const result = results[next++];
        await this.pacer?.take();
        try {
          const assignment: CouponAssignment = await this.claims.claim({ campaignId, userId: result.userId });
          // After a crash, the claims whose outcome was not recorded come back `reused`: the
          // assignment made by this distribution is still counted as assigned.
          const ownEarlierClaim = resumedSince !== null && assignment.reused && assignment.assignedAt >= resumedSince;
          result.outcome = assignment.reused && !ownEarlierClaim ? 'REUSED' : 'ASSIGNED';
          result.assignmentId = assignment.id;
        } catch (error) {
          if (isStop(error)) {
            stop ??= error;
            result.outcome = 'NOT_SERVED';
            result.error = error.message;
          } else if (error instanceof DomainError) {
            result.outcome = 'FAILED';
            result.error = error.message;
          } else {
            unexpected ??= error as Error;
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.app.config.DISTRIBUTION_CLAIM_CONCURRENCY, results.length) }, worker));
    return { results, stop, unexpected };
  }

  /**
   * Outcomes and the job's counters in one transaction: the counters always match the rows. Only
   * rows still without an outcome are written and counted (locked first), so a run repeated by
   * mistake cannot count a user twice. Returns how many were recorded.
   */
  private async recordOutcomes(id: string, results: UserResult[]): Promise<number> {
    if (results.length === 0) return 0;
    return this.app.transaction(async (tx) => {
      const open: Array<{ position: number }> = await tx.query(
        'SELECT position FROM distribution_job_users WHERE job_id = ? AND position IN (?) AND outcome IS NULL FOR UPDATE',
        [id, results.map((result) => result.position)],
      );
      const openPositions = new Set(open.map((row) => Number(row.position)));
      const fresh = results.filter((result) => openPositions.has(result.position));
      if (fresh.length === 0) return 0;
      await tx.query(
        `INSERT INTO distribution_job_users (job_id, position, user_id, outcome, assignment_id, error)
         VALUES ${fresh.map(() => '(?, ?, ?, ?, ?, ?)').join(', ')}
         ON DUPLICATE KEY UPDATE outcome = VALUES(outcome), assignment_id = VALUES(assignment_id), error = VALUES(error)`,
        fresh.flatMap((result) => [id, result.position, result.userId, result.outcome, result.assignmentId, result.error?.slice(0, 500) ?? null]),
      );
      const counted = (outcome: Outcome) => fresh.filter((result) => result.outcome === outcome).length;
      await tx.query(
        `UPDATE distribution_jobs SET processed = processed + ?, assigned = assigned + ?, reused = reused + ?, failed = failed + ?, not_served = not_served + ?
          WHERE id = ?`,
        [fresh.length, counted('ASSIGNED'), counted('REUSED'), counted('FAILED'), counted('NOT_SERVED'), id],
      );
      return fresh.length;
    });
  }

  private async refreshCounters(query: (sql: string, params?: unknown[]) => Promise<unknown>, id: string): Promise<void> {
    await query(
      `UPDATE distribution_jobs j
         JOIN (SELECT COUNT(outcome) AS processed,
                      COALESCE(SUM(outcome = 'ASSIGNED'), 0) AS assigned,
                      COALESCE(SUM(outcome = 'REUSED'), 0) AS reused,
                      COALESCE(SUM(outcome = 'FAILED'), 0) AS failed,
                      COALESCE(SUM(outcome = 'NOT_SERVED'), 0) AS not_served
                 FROM distribution_job_users WHERE job_id = ?) c
          SET j.processed = c.processed, j.assigned = c.assigned, j.reused = c.reused, j.failed = c.failed, j.not_served = c.not_served
        WHERE j.id = ?`,
      [id, id],
    );
  }

  private async markRemainingNotServed(id: string): Promise<void> {
    await this.app.transaction(async (tx) => {
      await tx.query(`UPDATE distribution_job_users SET outcome = 'NOT_SERVED' WHERE job_id = ? AND outcome IS NULL`, [id]);
      await this.refreshCounters(tx.query.bind(tx), id);
    });
  }

  private async finish(id: string, status: DistributionStatus, stopReason: string | null): Promise<DistributionStatus> {
    await this.app.dataSource.query(
      'UPDATE distribution_jobs SET status = ?, stop_reason = ?, completed_at = UTC_TIMESTAMP(3) WHERE id = ? AND status = ?',
      [status, stopReason?.slice(0, 500) ?? null, id, DistributionStatus.RUNNING],
    );
    this.app.logger.info({ distributionId: id, status, stopReason }, 'distribution finished');
    return status;
  }
}
