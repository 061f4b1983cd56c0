import type { JobsOptions } from 'bullmq';
import type { AppContext } from '../../app-context.js';
import type { RecoverableJob } from '../../infra/queue/queue-registry.js';

export const CODE_UPLOAD_QUEUE = 'code-uploads';

/** The job carries the upload id only: the file is staged in MySQL, readable from any machine. */
export interface CodeUploadJob {
  uploadId: string;
}

/** One job per upload: adding it again while it exists is a no-op. */
export const uploadJobId = (uploadId: string) => `code-upload-${uploadId}`;

/** The pub/sub topic of an upload's progress (namespaced by app.pubSub). */
export const uploadProgressTopic = (uploadId: string) => `code-upload-progress.${uploadId}`;

const JOB_OPTIONS: JobsOptions = {
  // A failed attempt resumes from the last committed chunk; the last attempt marks the upload FAILED.
  attempts: 8,
  backoff: { type: 'exponential', delay: 1000 },
  // Removed once done, so that the recovery sweep can add the job again if Redis lost it.
  removeOnComplete: true,
  removeOnFail: true,
};

export function uploadQueue(app: AppContext) {
  return app.queues.queue(CODE_UPLOAD_QUEUE);
}

/** The import job of one upload (also what the recovery sweep adds again when Redis lost it). */
export function importJob(uploadId: string): RecoverableJob<CodeUploadJob> {
  return { name: 'import', data: { uploadId }, opts: { ...JOB_OPTIONS, jobId: uploadJobId(uploadId) } };
}

export async function enqueueImport(app: AppContext, uploadId: string): Promise<void> {
  const job = importJob(uploadId);
  await uploadQueue(app).add(job.name, job.data, job.opts);
}
