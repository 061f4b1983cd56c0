import type { AppContext } from '../../app-context.js';
import { CodeImportService, TRANSFER_CUT_OFF } from './code-import.service.js';
import { CODE_UPLOAD_QUEUE, importJob } from './upload-queue.js';

/** A file transfer with no new data for this long was cut off with its API process. */
const ABANDONED_TRANSFER_SECONDS = 600;

/** The uploads' recovery sweep (workers only): the code_uploads row is the truth, a lost job is added again. */
export class UploadRecoverySweep {
  constructor(
    private readonly app: AppContext,
    private readonly imports: CodeImportService = app.get(CodeImportService),
  ) {}

  /**
   * Periodically (and at start) re-adds the job of every upload that is not settled: a job lost
   * with Redis's data, or one that BullMQ gave up on, is taken up again; and fails transfers
   * whose API process died mid-file.
   */
  start(): void {
    const sweep = async () => {
      const abandoned: Array<{ id: string }> = await this.app.dataSource.query(
        `SELECT id FROM code_uploads
          WHERE settled = 0 AND status = 'QUEUED' AND received_at IS NULL AND updated_at < NOW(3) - INTERVAL ? SECOND`,
        [ABANDONED_TRANSFER_SECONDS],
      );
      for (const { id } of abandoned) await this.imports.fail(id, TRANSFER_CUT_OFF);
      const open: Array<{ id: string }> = await this.app.dataSource.query(
        `SELECT id FROM code_uploads WHERE settled = 0 AND (received_at IS NOT NULL OR status = 'FAILED') ORDER BY id LIMIT 1000`,
      );
      // Jobs are removed when done: one that exists is queued or running and settles its upload.
      await this.app.queues.requeueLost(CODE_UPLOAD_QUEUE, open.map(({ id }) => importJob(String(id))));
    };
    let sweeping = false;
    const run = () => {
      if (sweeping) return;
      sweeping = true;
      sweep()
        .catch((error: unknown) => this.app.logger.warn({ err: error }, 'code upload recovery sweep failed'))
        .finally(() => (sweeping = false));
    };
    run();
    const timer = setInterval(run, this.app.config.UPLOAD_RECOVERY_SECONDS * 1000);
    timer.unref();
    this.app.onShutdown(() => clearInterval(timer));
  }
}
