import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { AppContext } from '../../app-context.js';
import { BadUserInputError, CampaignFinishedError, ClaimsOverloadedError, DomainError, RateLimitedError } from '../../common/errors.js';
import type { FinishReason } from '../campaigns/campaign.entity.js';
import { isRowId } from '../../common/ids.js';
import type { Caller } from '../auth/caller.js';
import { assertCampaignAllowed } from '../auth/campaign-scope.js';
import { ClaimDatabase } from './claim-database.js';
import type { ValidClaim } from './claim-allocation.js';
import { runClaimBatch, type ClaimOutcome } from './claim-batch.js';
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

/**
 * Claims taken together into one transaction at most: a flash sale's thousand waiting claimers
 * go into one or two transactions, not four rounds of 256 that each wait for the one before.
 */
export const MAX_CLAIM_BATCH = 1024;

/**
 * Claim transactions running at once in this process (unless some are slow, see
 * SLOW_TRANSACTION_MS). Few transactions holding many claims each cost far less per claim than
 * many small ones, and two keep both the database and this process busy.
 */
export const MAX_CLAIM_TRANSACTIONS = 2;

/**
 * A claim transaction running longer than this is most likely waiting for a lock held elsewhere
 * (another process's batch, an admin's edit): it no longer holds back the claims of other campaigns.
 */
export const SLOW_TRANSACTION_MS = 100;

/** Campaigns whose claims share one transaction at most. */
export const MAX_CAMPAIGNS_PER_BATCH = 64;

/**
 * Batches of one campaign running at once in this process: one holds the campaign row lock,
 * the next waits for it inside the database, ready to go.
 */
export const BATCHES_IN_FLIGHT = 2;

/** The retryAfterMs of a claim refused because too many claims wait in this process. */
export const OVERLOAD_RETRY_MS = 1000;

interface CampaignQueue {
  pending: PendingClaim[];
  /** Transactions holding claims of this campaign that have not ended. */
  inFlight: number;
  /** Claims of the campaign in the latest transaction that took some. */
  lastSize: number;
}

/** The claims of one campaign a transaction took. */
interface TakenClaims {
  campaignId: string;
  queue: CampaignQueue;
  claims: PendingClaim[];
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
  /** Campaigns whose waiting claims may go into the next transaction, in the order they became ready. */
  private readonly ready = new Set<string>();
  /** Transactions started that wait for their connection (at most one: see startSoon). */
  private starting = 0;
  /** When each claim transaction running in this process started. */
  private readonly transactions = new Set<{ started: number }>();
  private slowCheck: NodeJS.Timeout | null = null;
  private startScheduled = false;
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
      queue = { pending: [], inFlight: 0, lastSize: 0 };
      this.campaigns.set(campaignId, queue);
    }
    queue.pending.push(pending);
    this.waiting++;
    this.markReady(campaignId, queue);
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
    while (this.running.size > 0 || this.refusals.size > 0 || this.startScheduled || this.ready.size > 0) {
      await Promise.allSettled([...this.running]);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** The campaign's waiting claims may go into the next transaction. */
  private markReady(campaignId: string, queue: CampaignQueue): void {
    if (!this.mayStart(queue)) return;
    this.ready.add(campaignId);
    this.startSoon();
  }

  /**
   * Starts a transaction after the current turn of the event loop (claims that arrive in the same
   * turn join it; no timer, so an idle engine answers at once), unless one is still waiting for
   * its connection: that one takes whatever is ready once it has it, so a second would find
   * nothing left (a transaction, and a connection, for nothing).
   */
  private startSoon(): void {
    if (this.startScheduled || this.starting > 0 || this.ready.size === 0 || !this.transactionSlotFree()) return;
    this.startScheduled = true;
    setImmediate(() => {
      this.startScheduled = false;
      if (this.starting > 0 || this.ready.size === 0 || !this.transactionSlotFree()) return;
      this.starting++;
      const transaction = { started: performance.now() };
      this.transactions.add(transaction);
      let taken: TakenClaims[] = [];
      // Called once the transaction has its connection: claims that arrived while it waited ride along.
      const take = () => {
        this.starting--;
        taken = this.takeReady();
        this.startSoon();
        return taken;
      };
      const run = this.runBatch(take)
        .catch((error: unknown) => {
          this.app.logger.error({ err: error, campaignIds: taken.map((group) => group.campaignId) }, 'claim batch failed');
          for (const group of taken) for (const pending of group.claims) pending.reject(error);
        })
        .finally(() => {
          this.running.delete(run);
          this.transactions.delete(transaction);
          for (const { campaignId, queue } of taken) {
            queue.inFlight--;
            if (queue.pending.length > 0) this.markReady(campaignId, queue);
            else if (queue.inFlight === 0 && this.campaigns.get(campaignId) === queue) this.campaigns.delete(campaignId);
          }
          this.startSoon();
        });
      this.running.add(run);
    });
  }

  /**
   * Whether another claim transaction may start: fewer than MAX_CLAIM_TRANSACTIONS run that are
   * not slow. If none may, the check runs again once the oldest of those counts as slow.
   */
  private transactionSlotFree(): boolean {
    const now = performance.now();
    let young = 0;
    let oldestYoung = Infinity;
    for (const { started } of this.transactions) {
      if (now - started < SLOW_TRANSACTION_MS) {
        young++;
        oldestYoung = Math.min(oldestYoung, started);
      }
    }
    if (young < MAX_CLAIM_TRANSACTIONS) return true;
    this.slowCheck ??= setTimeout(() => {
      this.slowCheck = null;
      this.startSoon();
    }, oldestYoung + SLOW_TRANSACTION_MS - now + 1);
    this.slowCheck.unref();
    return false;
  }

  /**
   * The claims of the next transaction, from the campaigns that are ready, longest ready first.
   * Campaigns with no transaction running here go in together (up to MAX_CAMPAIGNS_PER_BATCH and
   * MAX_CLAIM_BATCH claims): each costs the transaction a few rows, not a transaction of its own.
   * A campaign that has one running goes alone: its second transaction waits inside the database
   * for the first one's campaign lock, and should hold no other campaign's lock while it waits.
   */
  private takeReady(): TakenClaims[] {
    const taken: TakenClaims[] = [];
    let room = MAX_CLAIM_BATCH;
    for (const campaignId of [...this.ready]) {
      const queue = this.campaigns.get(campaignId);
      if (queue) this.shedStale(queue);
      if (!queue || !this.mayStart(queue)) {
        this.ready.delete(campaignId);
        continue;
      }
      const alone = queue.inFlight > 0;
      if (alone && taken.length > 0) continue;
      const claims = queue.pending.splice(0, room);
      this.ready.delete(campaignId);
      this.waiting -= claims.length;
      room -= claims.length;
      queue.inFlight++;
      queue.lastSize = claims.length;
      taken.push({ campaignId, queue, claims });
      // More than one transaction's worth waits: the rest goes into the next one.
      if (this.mayStart(queue)) this.ready.add(campaignId);
      if (alone || room === 0 || taken.length >= MAX_CAMPAIGNS_PER_BATCH) break;
    }
    return taken;
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
   * A campaign's first transaction starts whenever claims wait. Another one joins a running one
   * only once as many claims wait as that one holds: smaller batches would cost more per claim
   * than the wait they save.
   */
  private mayStart(queue: CampaignQueue): boolean {
    if (queue.pending.length === 0 || queue.inFlight >= BATCHES_IN_FLIGHT) return false;
    return queue.inFlight === 0 || queue.pending.length >= queue.lastSize;
  }

  /**
   * One transaction for the claims that `take` gives once the transaction has its connection
   * (called once: a retried transaction runs the same claims again). If it fails for an
   * unexpected reason (after the transaction helper's own deadlock retries), the claims are split
   * in halves and retried, so that one claim that cannot be written does not take the others
   * down with it.
   */
  private async runBatch(take: () => TakenClaims[]): Promise<void> {
    let taken: TakenClaims[] | null = null;
    const batch = () => (taken ??= take());
    let outcomes: ClaimOutcome[][];
    try {
      let stored: ClaimOutcome[][] = [];
      outcomes = await this.database.transaction(
        async (tx) => {
          const groups = batch();
          stored =
            groups.length === 0
              ? []
              : await runClaimBatch(
                  tx,
                  groups.map((group) => ({ campaignId: group.campaignId, claims: group.claims.map((pending) => pending.claim) })),
                  this.app.config.CLAIM_WINDOW_SECONDS,
                );
          return stored;
        },
        // Read back after a COMMIT whose answer was lost: the batch's new assignments by their ids.
        () => stored.flat().flatMap((outcome) => ('assignment' in outcome && !outcome.assignment.reused ? [outcome.assignment.id] : [])),
      );
    } catch (error) {
      const failed = batch();
      const count = failed.reduce((sum, group) => sum + group.claims.length, 0);
      if (count > 1) {
        const [first, second] = halves(failed, count);
        await this.runBatch(() => first);
        await this.runBatch(() => second);
        return;
      }
      if (count === 0) return;
      this.app.logger.error({ err: error, campaignId: failed[0].campaignId }, 'claim failed');
      this.settle(failed[0].claims[0], { error: error as DomainError }, true);
      return;
    }
    const done = batch();
    if (done.length === 0) return;
    this.app.metrics.claimBatchSize.observe(done.reduce((sum, group) => sum + group.claims.length, 0));
    done.forEach((group, g) => group.claims.forEach((pending, index) => this.settle(pending, outcomes[g][index], false)));
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

/** The claims of a failed batch in two halves of about `count / 2` claims, each campaign's in order. */
function halves(groups: TakenClaims[], count: number): [TakenClaims[], TakenClaims[]] {
  const first: TakenClaims[] = [];
  const second: TakenClaims[] = [];
  let left = Math.ceil(count / 2);
  for (const group of groups) {
    const head = group.claims.slice(0, left);
    const tail = group.claims.slice(head.length);
    left -= head.length;
    if (head.length > 0) first.push({ ...group, claims: head });
    if (tail.length > 0) second.push({ ...group, claims: tail });
  }
  return [first, second];
}
