import type { Job } from 'bullmq';
import type { AppModule } from '../app-module.js';
import { CodeImportService } from './code-import.service.js';
import { CodeUpload } from './code-upload.entity.js';
import { CODE_UPLOAD_QUEUE, type CodeUploadJob } from './upload-queue.js';
import { UploadRecoverySweep } from './upload-recovery.js';

export const uploadsModule: AppModule = {
  name: 'uploads',
  entities: [CodeUpload],
  startWorkers(app) {
    const imports = app.get(CodeImportService);
    const lockMs = app.config.UPLOAD_RECOVERY_SECONDS * 1000;
    app.queues.worker<CodeUploadJob, string>(CODE_UPLOAD_QUEUE, (job: Job<CodeUploadJob>, token) => imports.process(job, token), {
      concurrency: app.config.UPLOAD_WORKER_CONCURRENCY,
      // A killed worker's import is taken over once its lock expires and the stall check runs.
      lockDuration: lockMs,
      stalledInterval: Math.max(1000, Math.floor(lockMs / 2)),
      // An import resumes from its last committed chunk, so being taken over is never a reason to give up.
      maxStalledCount: 1000,
    });
    app.get(UploadRecoverySweep).start();
  },
};
