import { Queue, Worker, type JobsOptions, type Processor, type WorkerOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '../logging/logger.js';

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
