import type { AppContext } from '../../app-context.js';
import { CodeUpload, UploadStatus } from './code-upload.entity.js';
import { uploadJobId, uploadQueue } from './upload-queue.js';

/** Rows removed per DELETE when clearing an upload's leftovers (keeps each statement short). */
const DELETE_WINDOW = 20_000;

/**
 * Removes what a finished upload leaves behind, then lets the next upload of the list run: a
 * FAILED upload's invisible rows, a REPLACE's old unassigned rows (already out of reach of
 * claims), staged chunks and conflict notes. Runs in the workers only.
 */
export class UploadCleanup {
  constructor(private readonly app: AppContext) {}

  /** Idempotent; resumable after a crash (the upload stays unsettled until all is gone). */
  async settle(upload: CodeUpload): Promise<void> {
    if (upload.status === UploadStatus.FAILED && upload.seqBase !== null && upload.lastSeq !== null) {
      await this.deleteCodeRange(upload.listId, upload.seqBase, upload.lastSeq);
    }
    if (upload.status === UploadStatus.COMPLETED && upload.cleanupFrom !== null && upload.cleanupTo !== null) {
      await this.deleteCodeRange(upload.listId, upload.cleanupFrom, upload.cleanupTo);
    }
    for (;;) {
      const result = await this.app.dataSource.query(`DELETE FROM code_upload_chunks WHERE upload_id = ? LIMIT 64`, [upload.id]);
      if (result.affectedRows < 64) break;
    }
    await this.app.dataSource.query(`DELETE FROM code_upload_conflicts WHERE upload_id = ?`, [upload.id]);
    await this.app.dataSource.query(`UPDATE code_uploads SET settled = 1 WHERE id = ? AND status IN ('COMPLETED', 'FAILED')`, [upload.id]);
    await this.wakeNextUpload(upload);
  }

  /** Deletes the list's code rows with from < seq <= to, a window at a time. */
  private async deleteCodeRange(listId: string, from: string, to: string): Promise<void> {
    const end = BigInt(to);
    for (let low = BigInt(from); low < end; low += BigInt(DELETE_WINDOW)) {
      const high = low + BigInt(DELETE_WINDOW) < end ? low + BigInt(DELETE_WINDOW) : end;
      await this.app.dataSource.query(`DELETE FROM coupon_codes WHERE list_id = ? AND seq > ? AND seq <= ?`, [listId, String(low), String(high)]);
    }
  }

  /** The next upload of the list waits in the delayed set; start it now rather than at its next check. */
  private async wakeNextUpload(upload: CodeUpload): Promise<void> {
    const [next] = await this.app.dataSource.query(`SELECT id FROM code_uploads WHERE list_id = ? AND id > ? AND settled = 0 ORDER BY id LIMIT 1`, [
      upload.listId,
      upload.id,
    ]);
    if (!next) return;
    const job = await uploadQueue(this.app).getJob(uploadJobId(String(next.id)));
    if (job && (await job.isDelayed())) await job.promote().catch(() => undefined);
  }
}
