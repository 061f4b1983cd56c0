import type { Job, JobsOptions } from 'bullmq';
import type { AppContext } from '../../app-context.js';
import type { QueueRegistry, RecoverableJob } from '../../infra/queue/queue-registry.js';

/** One job per distribution: claims for its users, in position order. */
export const DISTRIBUTION_QUEUE = 'distribution';
/** The periodic resume of distributions whose job was lost. */
export const DISTRIBUTION_MAINTENANCE_QUEUE = 'distribution-maintenance';

export interface DistributionJobData {
  distributionId: string;
}

export const distributionJobId = (id: string) => `distribution-${id}`;

const DISTRIBUTION_JOB_OPTIONS: JobsOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 5000 },
  removeOnComplete: true,
  removeOnFail: { age: 7 * 24 * 3600 },
};

/** The job of one distribution: the same id every time, so queueing it again while it exists adds nothing. */
export function distributeJob(id: string): RecoverableJob<DistributionJobData> {
  return { name: 'distribute', data: { distributionId: id }, opts: { ...DISTRIBUTION_JOB_OPTIONS, jobId: distributionJobId(id) } };
}

export function enqueueDistribution(queues: QueueRegistry, id: string): Promise<unknown> {
  const job = distributeJob(id);
  return queues.queue(DISTRIBUTION_QUEUE).add(job.name, job.data, job.opts);
}

export interface DistributionProcessors {
  distribute(job: Job<DistributionJobData>): Promise<unknown>;
  resume(): Promise<unknown>;
}

/** The distribution worker and the periodic resume (worker processes only). */
export async function startDistributionWorkers(app: AppContext, processors: DistributionProcessors): Promise<void> {
  app.queues.worker<DistributionJobData>(DISTRIBUTION_QUEUE, (job) => processors.distribute(job), {
    concurrency: 4,
    // A worker that dies mid-distribution leaves a stalled job; another worker resumes it.
    maxStalledCount: 10,
  });
  // As often as the delivery sweep, which recovers the sends of a distribution's claims.
  await app.queues.scheduleSweep(DISTRIBUTION_MAINTENANCE_QUEUE, 'distribution-resume', app.config.DELIVERY_SWEEP_INTERVAL_SECONDS * 1000, () =>
    processors.resume(),
  );
}
