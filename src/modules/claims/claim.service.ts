import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { AppContext } from '../../app-context.js';
import { BadUserInputError, CampaignFinishedError, ClaimsOverloadedError, DomainError, RateLimitedError } from '../../common/errors.js';
import type { FinishReason } from '../campaigns/campaign.entity.js';
import { isRowId } from '../../common/ids.js';
import type { Caller } from '../auth/caller.js';
import { assertCampaignAllowed } from '../auth/campaign-scope.js';
import { ClaimDatabase } from './claim-database.js';
import { runClaimBatch, type ClaimOutcome, type ValidClaim } from './claim-batch.js';
import type { CouponAssignment } from './coupon-assignment.entity.js';
import { FinishedCampaigns } from './finished-campaigns.js';

/** One claim, from the API or from another module (e.g. bulk distribution). */
export interface ClaimRequest {
  campaignId: string;
  userId: string;
  externalId?: string | null;
  /** One of the campaign's lists; absent: the campaign's first list (by position) that can still hand out a code. */
  listId?: string | null;
}

/** User and external ids are stored as VARCHAR(191) (the longest that a utf8mb4 index key allows). */
export const MAX_USER_ID_LENGTH = 191;

/** Claims of one campaign taken together into one transaction at most. */
export const MAX_CLAIM_BATCH = 256;

/**
 * Batches of one campaign running at once in this process: one holds the campaign row lock,
 * the next waits for it inside the database, ready to go.
 */
export const BATCHES_IN_FLIGHT = 2;

/** The retryAfterMs of a claim refused because too many claims wait in this process. */
export const OVERLOAD_RETRY_MS = 1000;

interface CampaignQueue {
  pending: PendingClaim[];
  inFlight: number;
  scheduled: boolean;
  /** Batches started that are still waiting for a connection (they take their claims once they have one). */
  untaken: number;
  /** Size of the latest batch started. */
  lastSize: number;
}

interface PendingClaim {
  claim: ValidClaim;
  started: number;
  /** An API claim: refused with RATE_LIMITED rather than kept waiting past CLAIM_QUEUE_MAX_WAIT_MS. */
  sheddable: boolean;
  resolve(assignment: CouponAssignment): void;
  reject(error: unknown): void;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function checkId(field: string, value: unknown, required: boolean): string | null {
  if (value === null || value === undefined) {
    if (required) throw new BadUserInputError(field, 'is required');
    return null;
  }
  if (typeof value !== 'string' || value.trim() === '') throw new BadUserInputError(field, 'must not be empty');
  // value.length counts UTF-16 units: only a long string needs its characters counted.
  if (value.length > MAX_USER_ID_LENGTH && [...value].length > MAX_USER_ID_LENGTH) {
    throw new BadUserInputError(field, `must be at most ${MAX_USER_ID_LENGTH} characters`);
  }
  if (LONE_SURROGATE.test(value)) throw new BadUserInputError(field, 'is not valid Unicode text');
  return value;
}

function checkRowId(field: string, value: unknown, required: boolean): string | null {
  if (value === null || value === undefined) {
    if (required) throw new BadUserInputError(field, 'is required');
    return null;
  }
  if (typeof value !== 'string' || !isRowId(value)) throw new BadUserInputError(field, `expected an id like "42", got ${JSON.stringify(value)}`);
  return value;
}

/**
 * The claim engine. Claims of one campaign queue up and go into transactions together (at most
 * MAX_CLAIM_BATCH each): one transaction serves many claims, while each claim still gets its
 * own answer. Up to BATCHES_IN_FLIGHT batches of a campaign run at once: the next one waits in
 * the database for the campaign row lock and proceeds the moment the previous one commits, so
 * neither the database nor this process sits idle waiting for the other. See claim-batch.ts for
 * why a batch is correct, and docs/claims.md.
 */
export class ClaimService {
  private readonly campaigns = new Map<string, CampaignQueue>();
  /** Claims of campaigns known to be finished, waiting for their (transaction-free) refusal. */
  private readonly refusals = new Map<string, PendingClaim[]>();
  private readonly running = new Set<Promise<void>>();
  /** Claims waiting in `campaigns` queues, not yet in a batch. */
  private waiting = 0;
  private rateLimiter: RateLimiterRedis | null = null;
  private readonly assignedCounter;
  private readonly reusedCounter;
  private readonly finished: FinishedCampaigns;
  private readonly database: ClaimDatabase;

  constructor(private readonly app: AppContext) {
    this.assignedCounter = app.metrics.claims.labels('assigned');
    this.reusedCounter = app.metrics.claims.labels('reused');
    this.finished = app.get(FinishedCampaigns);
    this.database = app.get(ClaimDatabase);
  }

  /**
   * claimCoupon: the key's campaign scopes, its rate limit (one point per claim, so aliased
   * claims in one request count one each), then the claim. When this process already has
   * CLAIM_QUEUE_LIMIT claims waiting for a transaction, the claim is refused at once
   * (RATE_LIMITED with retryAfterMs), and one that has waited CLAIM_QUEUE_MAX_WAIT_MS without
   * getting into a transaction is refused then, rather than left to wait until the client
   * times out (and retries, piling up more work).
   */
  async claimAs(caller: Caller, request: ClaimRequest): Promise<CouponAssignment> {
    assertCampaignAllowed(caller, request.campaignId);
    if (this.app.config.CLAIM_RATE_LIMIT > 0) await this.consumeRateLimit(caller.keyId);
    if (this.waiting >= this.app.config.CLAIM_QUEUE_LIMIT && !this.finished.isFinished(String(request.campaignId))) {
      this.app.metrics.claims.inc({ result: 'OVERLOADED' });
      throw new ClaimsOverloadedError(OVERLOAD_RETRY_MS);
    }
    return this.submit(request, true);
  }

  /**
   * Hands out a code (or, inside the claim window, the user's earlier assignment with
   * `reused: true`). Refusals are DomainErrors: BAD_USER_INPUT, NOT_FOUND, CAMPAIGN_FINISHED,
   * LIST_EXHAUSTED, LIST_EXPIRED.
   */
  claim(request: ClaimRequest): Promise<CouponAssignment> {
    return this.submit(request, false);
  }

  private submit(request: ClaimRequest, sheddable: boolean): Promise<CouponAssignment> {
    const started = performance.now();
    let claim: ValidClaim;
    try {
      claim = {
        campaignId: checkRowId('input.campaignId', request.campaignId, true)!,
        userId: checkId('input.userId', request.userId, true)!,
        externalId: checkId('input.externalId', request.externalId, false),
        listId: checkRowId('input.listId', request.listId, false),
      };
    } catch (error) {
      this.app.metrics.claims.inc({ result: (error as DomainError).code });
      return Promise.reject(error);
    }
    return new Promise<CouponAssignment>((resolve, reject) => {
      const pending: PendingClaim = { claim, started, sheddable, resolve, reject };
      if (this.finished.isFinished(claim.campaignId)) this.refuseLater(pending);
      else this.enqueue(pending);
    });
  }

  private enqueue(pending: PendingClaim): void {
    const campaignId = pending.claim.campaignId;
    let queue = this.campaigns.get(campaignId);
    if (!queue) {
      queue = { pending: [], inFlight: 0, scheduled: false, untaken: 0, lastSize: 0 };
      this.campaigns.set(campaignId, queue);
    }
    queue.pending.push(pending);
    this.waiting++;
    this.schedule(campaignId, queue);
  }

  /**
   * A claim in a campaign known to be finished: claims arriving in the same turn of the event
   * loop are answered together by FinishedCampaigns with plain reads, no transaction. Claims of
   * users inside their claim window, and all of them if the reads fail, go to the claim engine.
   */
  private refuseLater(pending: PendingClaim): void {
    const campaignId = pending.claim.campaignId;
    const group = this.refusals.get(campaignId);
    if (group) {
      group.push(pending);
      return;
    }
    this.refusals.set(campaignId, [pending]);
    setImmediate(() => {
      const claims = this.refusals.get(campaignId)!;
      this.refusals.delete(campaignId);
      const run = this.finished
        .answer(campaignId, claims.map((claim) => claim.claim))
        .then(
          (outcomes) =>
            outcomes.forEach((outcome, index) => {
              if (outcome.kind === 'refused') this.settle(claims[index], { error: outcome.error }, false);
              else this.enqueue(claims[index]);
            }),
          (error: unknown) => {
            this.app.logger.warn({ err: error, campaignId }, 'finished-campaign refusal not read; claims go through transactions');
            for (const claim of claims) this.enqueue(claim);
          },
        )
        .finally(() => this.running.delete(run));
      this.running.add(run);
    });
  }

  /** Claims waiting for a transaction in this process, and the claim transactions running. */
  queueState(): { waiting: number; batchesInFlight: number } {
    let batchesInFlight = 0;
    for (const queue of this.campaigns.values()) batchesInFlight += queue.inFlight;
    return { waiting: this.waiting, batchesInFlight };
  }

  /** Resolves once every claim received so far has been answered (used at shutdown). */
  async drained(): Promise<void> {
    while (this.running.size > 0 || this.refusals.size > 0 || [...this.campaigns.values()].some((queue) => queue.scheduled)) {
      await Promise.allSettled([...this.running]);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /**
   * Starts a batch after the current turn of the event loop (claims that arrive in the same turn
   * join it; no timer, so an idle engine answers at once), if a slot is free.
   */
  private schedule(campaignId: string, queue: CampaignQueue): void {
    if (queue.scheduled || !this.mayStart(queue)) return;
    queue.scheduled = true;
    setImmediate(() => {
      queue.scheduled = false;
      this.shedStale(queue);
      if (!this.mayStart(queue)) return;
      queue.inFlight++;
      queue.untaken++;
      let batch: PendingClaim[] = [];
      // Taken once the batch's transaction has its connection: claims that arrive while it waits
      // for one (many campaigns at once share the pool) ride along instead of waiting for the next.
      const take = () => {
        queue.untaken--;
        batch = queue.pending.splice(0, MAX_CLAIM_BATCH);
        this.waiting -= batch.length;
        if (batch.length > 0) queue.lastSize = batch.length;
        // More than one batch holds: the rest starts its own (it may take a second connection).
        if (queue.pending.length > 0) this.schedule(campaignId, queue);
        return batch;
      };
      const run = this.runBatch(campaignId, take)
        .catch((error: unknown) => {
          this.app.logger.error({ err: error, campaignId }, 'claim batch failed');
          for (const pending of batch) pending.reject(error);
        })
        .finally(() => {
          queue.inFlight--;
          this.running.delete(run);
          if (queue.pending.length > 0) this.schedule(campaignId, queue);
          else if (queue.inFlight === 0 && !queue.scheduled) this.campaigns.delete(campaignId);
        });
      this.running.add(run);
      this.schedule(campaignId, queue);
    });
  }

  /** Refuses the API claims that have waited longer than CLAIM_QUEUE_MAX_WAIT_MS for a batch. */
  private shedStale(queue: CampaignQueue): void {
    const oldest = performance.now() - this.app.config.CLAIM_QUEUE_MAX_WAIT_MS;
    // Arrival order: stale claims are at the front.
    if (queue.pending.length === 0 || queue.pending[0].started >= oldest) return;
    const kept: PendingClaim[] = [];
    for (const pending of queue.pending) {
      if (pending.sheddable && pending.started < oldest) {
        this.waiting--;
        this.app.metrics.claims.inc({ result: 'OVERLOADED' });
        pending.reject(new ClaimsOverloadedError(OVERLOAD_RETRY_MS));
      } else {
        kept.push(pending);
      }
    }
    queue.pending = kept;
  }

  /**
   * A first batch starts whenever claims wait. Another one joins a running batch only once as
   * many claims wait as that batch holds: smaller batches would cost more per claim than the
   * wait they save.
   */
  private mayStart(queue: CampaignQueue): boolean {
    // A batch still waiting for its connection will take what waits now: a second one would wait
    // for a connection too and then find nothing left (a transaction, and a connection, for nothing).
    if (queue.pending.length === 0 || queue.inFlight >= BATCHES_IN_FLIGHT || queue.untaken > 0) return false;
    return queue.inFlight === 0 || queue.pending.length >= queue.lastSize;
  }

  /**
   * One transaction for the batch that `take` gives once the transaction has its connection
   * (called once: a retried transaction runs the same claims again). If it fails for an unexpected reason (after the transaction
   * helper's own deadlock retries), the batch is split in halves and retried, so that one claim
   * that cannot be written does not take the others down with it.
   */
  private async runBatch(campaignId: string, take: () => PendingClaim[]): Promise<void> {
    let taken: PendingClaim[] | null = null;
    const batch = () => (taken ??= take());
    let outcomes: ClaimOutcome[];
    try {
      let stored: ClaimOutcome[] = [];
      outcomes = await this.database.transaction(
        async (tx) => {
          const claims = batch();
          stored = claims.length === 0 ? [] : await runClaimBatch(tx, campaignId, claims.map((pending) => pending.claim), this.app.config.CLAIM_WINDOW_SECONDS);
          return stored;
        },
        // Read back after a COMMIT whose answer was lost: the batch's new assignments by their ids.
        () => stored.flatMap((outcome) => ('assignment' in outcome && !outcome.assignment.reused ? [outcome.assignment.id] : [])),
      );
    } catch (error) {
      const failed = batch();
      if (failed.length > 1) {
        const half = Math.ceil(failed.length / 2);
        await this.runBatch(campaignId, () => failed.slice(0, half));
        await this.runBatch(campaignId, () => failed.slice(half));
        return;
      }
      if (failed.length === 0) return;
      this.app.logger.error({ err: error, campaignId }, 'claim failed');
      this.settle(failed[0], { error: error as DomainError }, true);
      return;
    }
    const done = batch();
    if (done.length === 0) return;
    this.app.metrics.claimBatchSize.observe(done.length);
    done.forEach((pending, index) => this.settle(pending, outcomes[index], false));
  }

  private settle(pending: PendingClaim, outcome: ClaimOutcome, unexpected: boolean): void {
    this.app.metrics.claimDuration.observe((performance.now() - pending.started) / 1000);
    if ('assignment' in outcome) {
      (outcome.assignment.reused ? this.reusedCounter : this.assignedCounter).inc();
      pending.resolve(outcome.assignment);
    } else {
      // A transaction found the campaign finished: later claims here are refused without one.
      if (outcome.error instanceof CampaignFinishedError) {
        this.finished.markFinished(pending.claim.campaignId, (outcome.error.details.finishReason as FinishReason | undefined) ?? null);
      }
      this.app.metrics.claims.inc({ result: unexpected ? 'error' : outcome.error.code });
      pending.reject(outcome.error);
    }
  }

  private async consumeRateLimit(keyId: string): Promise<void> {
    const limit = this.app.config.CLAIM_RATE_LIMIT;
    this.rateLimiter ??= new RateLimiterRedis({
      storeClient: this.app.redis,
      keyPrefix: `${this.app.config.QUEUE_PREFIX}:claim-rate`,
      points: limit,
      duration: 1,
      // Once a key is over its limit, refuse it in memory until its second ends (spares Redis).
      inMemoryBlockOnConsumed: limit + 1,
    });
    try {
      await this.rateLimiter.consume(keyId);
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes) {
        this.app.metrics.claims.inc({ result: 'RATE_LIMITED' });
        throw new RateLimitedError(rejection.msBeforeNext);
      }
      // Redis unreachable: claims go on unlimited rather than all failing.
      this.app.logger.warn({ err: rejection }, 'claim rate limit not checked: Redis did not answer');
    }
  }
}
