import { DelayedError, type Job } from 'bullmq';
import type { AppContext } from '../../app-context.js';
import { WriteConflictError } from '../../infra/db/transaction.js';
import { CouponListStockChanged } from '../lists/coupon-list.events.js';
import { CouponListService } from '../lists/coupon-list.service.js';
import { takeInUploadedCodes } from '../lists/list-rows.js';
import { WebhookEvent } from '../webhooks/webhook-event.js';
import { writeWebhookMessages } from '../webhooks/webhook-outbox.js';
import { ChunkImporter, ImportSuperseded } from './chunk-importer.js';
import { CodeUpload, UploadMode, UploadStatus, isFinished, viewOf } from './code-upload.entity.js';
import { RowBuffer } from './line-parser.js';
import { UploadCleanup } from './upload-cleanup.js';
import { uploadProgressTopic, type CodeUploadJob } from './upload-queue.js';
import { uploadCompletedMessages } from './upload-webhooks.js';

/** How often a running import tells subscribers where it is, even between chunks. */
const PROGRESS_INTERVAL_MS = 1000;

export const FAILED_AFTER_RETRIES =
  'The import stopped after repeated internal errors; nothing was loaded and the list is unchanged. Upload the file again.';
export const TRANSFER_CUT_OFF = 'The file transfer stopped before the end of the file; nothing was loaded. Upload the file again.';

/**
 * The import job of code uploads (workers): the order in which a list's uploads run, and an
 * upload's way from QUEUED through PROCESSING to COMPLETED or FAILED. The chunks are written by
 * ChunkImporter (one transaction each, resumable); completion flips visibility under the list
 * row lock; UploadCleanup then removes what the finished upload leaves behind (a FAILED
 * upload's invisible rows). Either way the list never shows half a file.
 */
export class CodeImportService {
  /** Uploads being imported by this process (a re-delivered job must not run twice here). */
  private readonly running = new Set<string>();

  constructor(
    private readonly app: AppContext,
    private readonly chunks: ChunkImporter = app.get(ChunkImporter),
    private readonly cleanup: UploadCleanup = app.get(UploadCleanup),
    private readonly lists: CouponListService = app.get(CouponListService),
  ) {}

  /** The BullMQ processor. Safe to run again at any point: it continues from the committed state. */
  async process(job: Job<CodeUploadJob>, token?: string): Promise<string> {
    const { uploadId } = job.data;
    const upload = await this.find(uploadId);
    if (!upload || upload.settled) return 'settled';
    if (this.running.has(uploadId)) return this.postpone(job, token, this.app.config.UPLOAD_RECOVERY_SECONDS * 1000);
    if (isFinished(upload)) {
      await this.cleanup.settle(upload);
      return 'settled';
    }
    // Uploads of one list run one after another, in the order they were received.
    if (!upload.receivedAt || (await this.earlierUnsettledUpload(upload))) return this.postpone(job, token, 1000);
    // A run elsewhere committed a chunk just now (this job was re-added after Redis lost it): let that run go on.
    if (upload.status === UploadStatus.PROCESSING && (await this.recentlyAdvanced(upload))) {
      return this.postpone(job, token, this.app.config.UPLOAD_RECOVERY_SECONDS * 1000);
    }

    this.running.add(uploadId);
    try {
      const finished = await this.importFile(upload);
      await this.cleanup.settle(finished);
      return finished.status;
    } catch (error) {
      if (error instanceof ImportSuperseded) {
        // Failed meanwhile (e.g. by the recovery sweep): remove its leftovers now.
        const now = await this.find(uploadId);
        if (now && isFinished(now) && !now.settled) await this.cleanup.settle(now);
        return 'superseded';
      }
      const attempts = job.opts.attempts ?? 1;
      if (job.attemptsMade + 1 < attempts) throw error;
      this.app.logger.error({ err: error, uploadId }, 'code upload failed after its last attempt');
      await this.fail(uploadId, FAILED_AFTER_RETRIES);
      const failed = await this.find(uploadId);
      if (failed) await this.cleanup.settle(failed);
      return UploadStatus.FAILED;
    } finally {
      this.running.delete(uploadId);
    }
  }

  async find(uploadId: string): Promise<CodeUpload | null> {
    return this.app.dataSource.getRepository(CodeUpload).findOne({ where: { id: uploadId } });
  }

  /** Marks an unfinished upload FAILED (a worker then removes its leftovers); false if it had finished already. */
  async fail(uploadId: string, reason: string): Promise<boolean> {
    return (await this.markFailed(uploadId, reason)) !== null;
  }

  /** Marks an unfinished upload FAILED and returns it as it now is; null if it had finished already. */
  async markFailed(uploadId: string, reason: string): Promise<CodeUpload | null> {
    const failed = await this.app.transaction(async (tx) => {
      const result = await tx.query(
        `UPDATE code_uploads SET status = 'FAILED', failure_reason = ?, completed_at = NOW(3)
          WHERE id = ? AND status IN ('QUEUED', 'PROCESSING')`,
        [reason, uploadId],
      );
      if (result.affectedRows !== 1) return null;
      const upload = await tx.manager.getRepository(CodeUpload).findOne({ where: { id: uploadId } });
      await writeWebhookMessages(tx, [
        { event: WebhookEvent.CODE_UPLOAD_FAILED, data: { uploadId, listId: String(upload!.listId), fileName: upload!.fileName, failureReason: reason } },
      ]);
      return upload;
    });
    if (failed) this.publishProgress(failed);
    return failed;
  }

  private async postpone(job: Job<CodeUploadJob>, token: string | undefined, delayMs: number): Promise<never> {
    await job.moveToDelayed(Date.now() + delayMs, token);
    throw new DelayedError();
  }

  private async recentlyAdvanced(upload: CodeUpload): Promise<boolean> {
    const [row] = await this.app.dataSource.query(`SELECT updated_at > NOW(3) - INTERVAL ? SECOND AS recent FROM code_uploads WHERE id = ?`, [
      this.app.config.UPLOAD_RECOVERY_SECONDS,
      upload.id,
    ]);
    return Number(row?.recent) === 1;
  }

  private async earlierUnsettledUpload(upload: CodeUpload): Promise<boolean> {
    const rows = await this.app.dataSource.query(`SELECT id FROM code_uploads WHERE list_id = ? AND id < ? AND settled = 0 LIMIT 1`, [
      upload.listId,
      upload.id,
    ]);
    return rows.length > 0;
  }

  private async importFile(queued: CodeUpload): Promise<CodeUpload> {
    let current = await this.begin(queued);
    this.publishProgress(current);
    const heartbeat = setInterval(() => this.publishProgress(current), PROGRESS_INTERVAL_MS);
    try {
      // Chunk n is parsed into rows[n % 2] while chunk n - 1 is written from the other.
      const rows = [new RowBuffer(), new RowBuffer()];
      const read = (chunkNo: number, firstSeq: number) => {
        const reading = this.chunks.read(current, chunkNo, firstSeq, rows[chunkNo % 2]);
        reading.catch(() => undefined);
        return reading;
      };
      let next = current.chunksDone < current.chunkCount ? read(current.chunksDone + 1, Number(current.lastSeq) + 1) : null;
      while (next) {
        const parsed = await next;
        // The next chunk is read and parsed while this one is written.
        const chunkNo = current.chunksDone + 1;
        next = chunkNo < current.chunkCount ? read(chunkNo + 1, parsed.firstSeq + parsed.count) : null;
        current = await this.chunks.write(current, chunkNo, parsed);
        this.publishProgress(current);
      }
      current = await this.complete(current);
      this.publishProgress(current);
      return current;
    } finally {
      clearInterval(heartbeat);
    }
  }

  /** PROCESSING, and the upload's seq range starts above everything the list holds. */
  private async begin(upload: CodeUpload): Promise<CodeUpload> {
    // Idempotent: after a COMMIT whose answer was lost it simply runs again.
    return this.app.transaction(async (tx) => {
      // The row as it is under its lock (another run may have moved it on), and the database's clock.
      const { entities, raw } = await tx.manager
        .getRepository(CodeUpload)
        .createQueryBuilder('upload')
        .addSelect('NOW(3)', 'db_now')
        .where('upload.id = :id', { id: upload.id })
        .setLock('pessimistic_write')
        .getRawAndEntities();
      const row = entities[0];
      if (!row || (row.status !== UploadStatus.QUEUED && row.status !== UploadStatus.PROCESSING)) throw new ImportSuperseded();
      if (row.seqBase === null) {
        // Nothing else writes above visible_seq while this upload runs (uploads of a list run one at a time).
        const [{ top }] = await tx.query(
          `SELECT GREATEST(l.visible_seq, COALESCE((SELECT MAX(c.seq) FROM coupon_codes c WHERE c.list_id = l.id), 0)) AS top
             FROM coupon_lists l WHERE l.id = ?`,
          [upload.listId],
        );
        await tx.query(`UPDATE code_uploads SET seq_base = COALESCE(seq_base, ?), last_seq = COALESCE(last_seq, ?) WHERE id = ?`, [top, top, upload.id]);
        row.seqBase = String(top);
        row.lastSeq ??= String(top);
      }
      row.startedAt ??= (raw[0] as { db_now: Date }).db_now;
      row.status = UploadStatus.PROCESSING;
      await tx.query(`UPDATE code_uploads SET status = 'PROCESSING', started_at = ? WHERE id = ?`, [row.startedAt, upload.id]);
      return row;
    }, { committed: async () => false });
  }

  /** Makes the upload's codes available, all at once, under the list row lock. */
  private async complete(upload: CodeUpload): Promise<CodeUpload> {
    return this.app.transaction(async (tx) => {
      const list = await this.lists.lockById(tx, upload.listId);
      const [row] = await tx.query(
        `SELECT status, chunks_done, chunk_count, codes_added, duplicates_skipped, replace_conflicts, seq_base, last_seq, NOW(3) AS now
           FROM code_uploads WHERE id = ? FOR UPDATE`,
        [upload.id],
      );
      if (!row || row.status !== UploadStatus.PROCESSING || Number(row.chunks_done) !== Number(row.chunk_count)) throw new ImportSuperseded();
      let added = Number(row.codes_added);
      let duplicates = Number(row.duplicates_skipped);
      let cleanupFrom: string | null = null;
      let cleanupTo: string | null = null;

      if (upload.mode === UploadMode.REPLACE) {
        const cursor = list.claimCursor;
        if (Number(row.replace_conflicts) > 0) {
          const moved = await tx.query(
            `UPDATE coupon_codes c JOIN code_upload_conflicts k ON c.list_id = ? AND c.seq = k.old_seq
                SET c.seq = k.new_seq, c.upload_id = ?
              WHERE k.upload_id = ? AND k.old_seq > ?`,
            [upload.listId, upload.id, upload.id, cursor],
          );
          // Conflicting codes handed out while the file was imported stay assigned: duplicates.
          const handedOut = Number(row.replace_conflicts) - moved.affectedRows;
          added -= handedOut;
          duplicates += handedOut;
        }
        // Everything up to seq_base is now out of reach of claims; the old unassigned rows are deleted after commit.
        if (BigInt(cursor) < BigInt(row.seq_base)) {
          cleanupFrom = cursor;
          cleanupTo = row.seq_base;
        }
      }
      const after = await takeInUploadedCodes(tx, list, { replace: upload.mode === UploadMode.REPLACE, seqBase: row.seq_base, lastSeq: row.last_seq, added });
      const leftovers = cleanupFrom !== null || Number(row.replace_conflicts) > 0;
      const completed = await tx.query(
        `UPDATE code_uploads SET status = 'COMPLETED', completed_at = ?, codes_added = ?, duplicates_skipped = ?,
                cleanup_from = ?, cleanup_to = ?, settled = ?
          WHERE id = ? AND status = 'PROCESSING'`,
        [row.now, added, duplicates, cleanupFrom, cleanupTo, leftovers ? 0 : 1, upload.id],
      );
      if (completed.affectedRows !== 1) throw new WriteConflictError(`upload ${upload.id} changed state while completing`);
      await writeWebhookMessages(tx, uploadCompletedMessages(upload, list.totalCodes - list.assignedCodes, after, added, duplicates));
      tx.publish(new CouponListStockChanged(after));
      return Object.assign(new CodeUpload(), upload, {
        status: UploadStatus.COMPLETED,
        completedAt: row.now as Date,
        codesAdded: added,
        duplicatesSkipped: duplicates,
        chunksDone: Number(row.chunks_done),
        seqBase: String(row.seq_base),
        lastSeq: String(row.last_seq),
        cleanupFrom,
        cleanupTo,
        settled: !leftovers,
      } satisfies Partial<CodeUpload>);
    }, {
      // total_codes moved by the count of this upload: after a lost COMMIT, never run again if it is in.
      committed: async () => {
        const [row] = await this.app.dataSource.query(`SELECT status FROM code_uploads WHERE id = ?`, [upload.id]);
        return row?.status === UploadStatus.COMPLETED;
      },
    });
  }

  private publishProgress(upload: CodeUpload): void {
    // Publishing while Redis is unreachable would only queue up; subscribers also poll.
    if (this.app.redis.status !== 'ready') return;
    this.app.pubSub.publish(uploadProgressTopic(upload.id), viewOf(upload));
  }
}
