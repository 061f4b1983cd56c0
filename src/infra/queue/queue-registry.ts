import { Queue, Worker, type JobsOptions, type Processor, type WorkerOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '../logging/logger.js';

/** A job as a sweep adds it: with its own id, so adding it while it exists adds nothing. */
export interface RecoverableJob<Data = unknown> {
  name: string;
  data: Data;
  opts: JobsOptions & { jobId: string };
}

/** What `requeueLost` found. */
export interface RequeueResult {
  /** Jobs added again: missing (or failed, with `replaceFailed`). */
  requeued: number;
  /** Ids of jobs that ended (completed, or failed and not replaced) with their row still open: the caller settles the row. */
  ended: string[];
}

/**
 * The BullMQ queues and workers of this process. Queues are created on first use; workers only
 * in processes with the worker role. close() stops workers first (letting running jobs finish),
 * then queues.
 */
export class QueueRegistry {
  private readonly queues = new Map<string, Queue>();
  private readonly workers: Worker[] = [];

  constructor(
    private readonly connection: Redis,
    private readonly prefix: string,
    private readonly logger: Logger,
  ) {}

  queue(name: string, defaultJobOptions?: JobsOptions): Queue {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue(name, { connection: this.connection, prefix: `${this.prefix}:bull`, defaultJobOptions });
      queue.on('error', (error) => this.logger.warn({ err: error, queue: name }, 'queue error'));
      this.queues.set(name, queue);
    }
    return queue;
  }

  worker<Data = unknown, Result = unknown>(
    name: string,
    processor: Processor<Data, Result>,
    options: Omit<WorkerOptions, 'connection' | 'prefix'> = {},
  ): Worker<Data, Result> {
    const worker = new Worker<Data, Result>(name, processor, {
      connection: this.connection,
      prefix: `${this.prefix}:bull`,
      ...options,
    });
    worker.on('error', (error) => this.logger.warn({ err: error, queue: name }, 'worker error'));
    worker.on('failed', (job, error) =>
      this.logger.warn({ err: error, queue: name, jobId: job?.id, attempts: job?.attemptsMade }, 'job failed'),
    );
    this.workers.push(worker);
    return worker;
  }

  /**
   * The database row is the truth, a job only the way to get it done: `jobs` are the jobs that
   * open rows say should exist (found by the caller's sweep). Each one Redis lost (a flush, a
   * failover, an enqueue after commit that never happened) is added again; a failed one too with
   * `replaceFailed` (its processor is idempotent and the row says the work is not done).
   */
  async requeueLost<Data>(queueName: string, jobs: Array<RecoverableJob<Data>>, options: { replaceFailed?: boolean } = {}): Promise<RequeueResult> {
    const queue = this.queue(queueName);
    const result: RequeueResult = { requeued: 0, ended: [] };
    for (const job of jobs) {
      const existing = await queue.getJob(job.opts.jobId);
      if (existing) {
        const state = await existing.getState();
        if (state === 'failed' && options.replaceFailed) {
          await existing.remove();
        } else {
          // Still queued or running (it will settle its row), or ended for the caller to settle.
          if (state === 'failed' || state === 'completed') result.ended.push(job.opts.jobId);
          continue;
        }
      }
      await queue.add(job.name, job.data, job.opts);
      result.requeued++;
    }
    return result;
  }

  /**
   * Runs `sweep` every `everyMs` in one worker process at a time: a BullMQ job scheduler on a
   * queue of its own, with one worker (concurrency 1) per process. Worker processes only.
   */
  async scheduleSweep(
    queueName: string,
    schedulerId: string,
    everyMs: number,
    sweep: () => Promise<unknown>,
    jobOptions: JobsOptions = { removeOnComplete: true, removeOnFail: { count: 100 } },
  ): Promise<void> {
    this.worker(queueName, () => sweep(), { concurrency: 1 });
    await this.queue(queueName).upsertJobScheduler(schedulerId, { every: everyMs }, { name: 'sweep', opts: jobOptions });
  }

  /** Waiting + delayed + active jobs per queue, for /metrics. */
  async depths(): Promise<Array<{ queue: string; state: string; count: number }>> {
    const rows: Array<{ queue: string; state: string; count: number }> = [];
    for (const [name, queue] of this.queues) {
      const counts = await queue.getJobCounts('waiting', 'delayed', 'active', 'failed');
      for (const [state, count] of Object.entries(counts)) rows.push({ queue: name, state, count });
    }
    return rows;
  }

  async closeWorkers(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.close()));
  }

  async close(): Promise<void> {
    await this.closeWorkers();
    await Promise.all([...this.queues.values()].map((queue) => queue.close()));
  }
}
