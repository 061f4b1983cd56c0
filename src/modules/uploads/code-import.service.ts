import { DelayedError, type Job } from 'bullmq';
import type { AppContext } from '../../app-context.js';
import { WriteConflictError, type Tx } from '../../infra/db/transaction.js';
import { CouponListStockChanged } from '../lists/coupon-list.events.js';
import { WebhookEvent } from '../webhooks/webhook-event.js';
import { writeWebhookMessages } from '../webhooks/webhook-outbox.js';
import { uploadCompletedMessages } from './upload-webhooks.js';
import { CouponListService } from '../lists/coupon-list.service.js';
import { takeInUploadedCodes } from '../lists/list-rows.js';
import { CodeUpload, MAX_LINE_ERRORS, UploadMode, UploadStatus, isFinished, viewOf, type UploadLineError } from './code-upload.entity.js';
import { CodeWriter } from './code-writer.js';
import { RowBuffer, codesOf, parseChunk, type ParsedChunk } from './line-parser.js';
import { enqueueImport, uploadJobId, uploadProgressTopic, uploadQueue, type CodeUploadJob } from './upload-queue.js';

/** Rows removed per DELETE when clearing an upload's leftovers (keeps each statement short). */
const DELETE_WINDOW = 20_000;
/** Codes per lookup of REPLACE conflicts. */
const CONFLICT_LOOKUP_BATCH = 5000;
/** How often a running import tells subscribers where it is, even between chunks. */
const PROGRESS_INTERVAL_MS = 1000;
/** A file transfer with no new data for this long was cut off with its API process. */
const ABANDONED_TRANSFER_SECONDS = 600;

export const FAILED_AFTER_RETRIES =
  'The import stopped after repeated internal errors; nothing was loaded and the list is unchanged. Upload the file again.';
export const TRANSFER_CUT_OFF = 'The file transfer stopped before the end of the file; nothing was loaded. Upload the file again.';

/** This run must stop: the upload was finished or taken over by another run. */
class ImportSuperseded extends Error {}

interface ChunkRow {
  data: Buffer;
  long_line_bytes: string | null;
}

/**
 * The worker side of code uploads: imports a staged file chunk by chunk, makes its codes
 * available in one short transaction, and clears what a finished upload leaves behind.
 *
 * Every chunk is one transaction: its codes (with seq above the list's visible_seq, so claims
 * cannot see them), the upload's counters and kept line errors, and the removal of the staged
 * chunk. A run killed at any point resumes at the first chunk not committed, so each code is
 * loaded exactly once and the counters stay exact. Completion flips visibility under the list
 * row lock; failure deletes the invisible rows. Either way the list never shows half a file.
 */
export class CodeImportService {
  private readonly writer: CodeWriter;
  /** Uploads being imported by this process (a re-delivered job must not run twice here). */
  private readonly running = new Set<string>();

  constructor(private readonly app: AppContext) {
    this.writer = new CodeWriter(app);
  }

  /** The BullMQ processor. Safe to run again at any point: it continues from the committed state. */
  async process(job: Job<CodeUploadJob>, token?: string): Promise<string> {
    const { uploadId } = job.data;
    const upload = await this.find(uploadId);
    if (!upload || upload.settled) return 'settled';
    if (this.running.has(uploadId)) return this.postpone(job, token, this.app.config.UPLOAD_RECOVERY_SECONDS * 1000);
    if (isFinished(upload)) {
      await this.settle(upload);
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
      await this.settle(finished);
      return finished.status;
    } catch (error) {
      if (error instanceof ImportSuperseded) {
        // Failed meanwhile (e.g. by the recovery sweep): remove its leftovers now.
        const now = await this.find(uploadId);
        if (now && isFinished(now) && !now.settled) await this.settle(now);
        return 'superseded';
      }
      const attempts = job.opts.attempts ?? 1;
      if (job.attemptsMade + 1 < attempts) throw error;
      this.app.logger.error({ err: error, uploadId }, 'code upload failed after its last attempt');
      await this.fail(uploadId, FAILED_AFTER_RETRIES);
      const failed = await this.find(uploadId);
      if (failed) await this.settle(failed);
      return UploadStatus.FAILED;
    } finally {
      this.running.delete(uploadId);
    }
  }

  async find(uploadId: string): Promise<CodeUpload | null> {
    return this.app.dataSource.getRepository(CodeUpload).findOne({ where: { id: uploadId } });
  }

  /** Marks an unfinished upload FAILED (its leftovers are then removed by settle). */
  async fail(uploadId: string, reason: string): Promise<boolean> {
    const failed = await this.app.transaction(async (tx) => {
      const result = await tx.query(
        `UPDATE code_uploads SET status = 'FAILED', failure_reason = ?, completed_at = NOW(3)
          WHERE id = ? AND status IN ('QUEUED', 'PROCESSING')`,
        [reason, uploadId],
      );
      if (result.affectedRows !== 1) return false;
      const [row]: Array<{ list_id: string; file_name: string }> = await tx.query('SELECT list_id, file_name FROM code_uploads WHERE id = ?', [uploadId]);
      await writeWebhookMessages(tx, [
        { event: WebhookEvent.CODE_UPLOAD_FAILED, data: { uploadId, listId: String(row.list_id), fileName: row.file_name, failureReason: reason } },
      ]);
      return true;
    });
    if (failed) {
      const upload = await this.find(uploadId);
      if (upload) this.publishProgress(upload);
    }
    return failed;
  }

  /**
   * Periodically (and at start) re-adds the job of every upload that is not settled: a job lost
   * with Redis's data, or one that BullMQ gave up on, is taken up again; and fails transfers
   * whose API process died mid-file.
   */
  startRecoverySweep(): void {
    const sweep = async () => {
      const abandoned: Array<{ id: string }> = await this.app.dataSource.query(
        `SELECT id FROM code_uploads
          WHERE settled = 0 AND status = 'QUEUED' AND received_at IS NULL AND updated_at < NOW(3) - INTERVAL ? SECOND`,
        [ABANDONED_TRANSFER_SECONDS],
      );
      for (const { id } of abandoned) await this.fail(id, TRANSFER_CUT_OFF);
      const open: Array<{ id: string }> = await this.app.dataSource.query(
        `SELECT id FROM code_uploads WHERE settled = 0 AND (received_at IS NOT NULL OR status = 'FAILED') ORDER BY id LIMIT 1000`,
      );
      const queue = uploadQueue(this.app);
      for (const { id } of open) {
        if (!(await queue.getJob(uploadJobId(id)))) await enqueueImport(this.app, id);
      }
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
        const reading = this.readChunk(current, chunkNo, firstSeq, rows[chunkNo % 2]);
        reading.catch(() => undefined);
        return reading;
      };
      let next = current.chunksDone < current.chunkCount ? read(current.chunksDone + 1, Number(current.lastSeq) + 1) : null;
      while (next) {
        const parsed = await next;
        // The next chunk is read and parsed while this one is written.
        const chunkNo = current.chunksDone + 1;
        next = chunkNo < current.chunkCount ? read(chunkNo + 1, parsed.firstSeq + parsed.count) : null;
        current = await this.importChunk(current, chunkNo, parsed);
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
    await this.app.transaction(async (tx) => {
      const [row] = await tx.query(`SELECT status FROM code_uploads WHERE id = ? FOR UPDATE`, [upload.id]);
      if (!row || (row.status !== UploadStatus.QUEUED && row.status !== UploadStatus.PROCESSING)) throw new ImportSuperseded();
      if (upload.seqBase === null) {
        // Nothing else writes above visible_seq while this upload runs (uploads of a list run one at a time).
        const [{ top }] = await tx.query(
          `SELECT GREATEST(l.visible_seq, COALESCE((SELECT MAX(c.seq) FROM coupon_codes c WHERE c.list_id = l.id), 0)) AS top
             FROM coupon_lists l WHERE l.id = ?`,
          [upload.listId],
        );
        await tx.query(`UPDATE code_uploads SET seq_base = COALESCE(seq_base, ?), last_seq = COALESCE(last_seq, ?) WHERE id = ?`, [top, top, upload.id]);
      }
      await tx.query(`UPDATE code_uploads SET status = 'PROCESSING', started_at = COALESCE(started_at, NOW(3)) WHERE id = ?`, [upload.id]);
      // Idempotent: after a COMMIT whose answer was lost it simply runs again.
    }, { committed: async () => false });
    const begun = await this.find(upload.id);
    if (!begun) throw new ImportSuperseded();
    return begun;
  }

  private async readChunk(upload: CodeUpload, chunkNo: number, firstSeq: number, into: RowBuffer): Promise<ParsedChunk> {
    const rows: ChunkRow[] = await this.app.dataSource.query(
      `SELECT data, long_line_bytes FROM code_upload_chunks WHERE upload_id = ? AND chunk_no = ?`,
      [upload.id, chunkNo],
    );
    if (rows.length === 0) {
      // Imported and removed by another run meanwhile: this run stops.
      const now = await this.find(upload.id);
      if (!now || now.status !== UploadStatus.PROCESSING || now.chunksDone >= chunkNo) throw new ImportSuperseded();
      throw new Error(`chunk ${chunkNo} of upload ${upload.id} is missing`);
    }
    return parseChunk(rows[0].data, {
      startsFile: chunkNo === 1,
      longLineBytes: rows[0].long_line_bytes === null ? null : Number(rows[0].long_line_bytes),
      maxErrors: MAX_LINE_ERRORS,
      firstSeq,
      into,
    });
  }

  private async importChunk(current: CodeUpload, chunkNo: number, parsed: ParsedChunk): Promise<CodeUpload> {
    let next: CodeUpload | null = null;
    // A COMMIT whose answer was lost: the chunk is in if the upload's row says so (read where the latest writes are seen).
    const committed = async () => {
      const [row] = await this.app.dataSource.query(`SELECT chunks_done FROM code_uploads WHERE id = ?`, [current.id]);
      return next !== null && Number(row?.chunks_done) >= chunkNo;
    };
    return this.app.transaction(async (tx) => {
      const [locked] = await tx.query(`SELECT status, chunks_done, last_seq FROM code_uploads WHERE id = ? FOR UPDATE`, [current.id]);
      // Another run committed this chunk, or the upload was failed meanwhile: this run stops.
      if (!locked || locked.status !== UploadStatus.PROCESSING || Number(locked.chunks_done) !== chunkNo - 1) throw new ImportSuperseded();
      if (Number(locked.last_seq) + 1 !== parsed.firstSeq) throw new Error(`upload ${current.id}: chunk ${chunkNo} was laid out for another seq`);
      const inserted = await this.writer.insert(tx, current.listId, current.id, parsed);
      const kept =
        current.mode === UploadMode.REPLACE && inserted < parsed.count ? await this.recordReplaceConflicts(tx, current, parsed) : 0;

      const firstLine = 1 + current.linesRead + current.blankLines;
      const errors: UploadLineError[] = current.errors.slice();
      for (const error of parsed.errors) {
        if (errors.length >= MAX_LINE_ERRORS) break;
        errors.push({ line: firstLine + error.index, reason: error.reason });
      }
      next = Object.assign(new CodeUpload(), current, {
        chunksDone: chunkNo,
        linesRead: current.linesRead + parsed.lines - parsed.blankLines,
        blankLines: current.blankLines + parsed.blankLines,
        // Kept REPLACE conflicts count as added; completion corrects those assigned meanwhile.
        codesAdded: current.codesAdded + inserted + kept,
        duplicatesSkipped: current.duplicatesSkipped + parsed.count - inserted - kept,
        invalidLines: current.invalidLines + parsed.invalidLines,
        replaceConflicts: current.replaceConflicts + kept,
        errors,
        lastSeq: String(parsed.firstSeq + parsed.count - 1),
      } satisfies Partial<CodeUpload>);
      // Guarded: the counters move from the chunk this run read, or the chunk is not written at all.
      const updated = await tx.query(
        `UPDATE code_uploads SET chunks_done = ?, lines_read = ?, blank_lines = ?, codes_added = ?, duplicates_skipped = ?,
                invalid_lines = ?, replace_conflicts = ?, line_errors = ?, last_seq = ?
          WHERE id = ? AND status = 'PROCESSING' AND chunks_done = ?`,
        [
          next.chunksDone, next.linesRead, next.blankLines, next.codesAdded, next.duplicatesSkipped,
          next.invalidLines, next.replaceConflicts, JSON.stringify(next.errors), next.lastSeq, current.id, chunkNo - 1,
        ],
      );
      if (updated.affectedRows !== 1) throw new WriteConflictError(`upload ${current.id}: chunk ${chunkNo} counters changed under this run`);
      await tx.query(`DELETE FROM code_upload_chunks WHERE upload_id = ? AND chunk_no = ?`, [current.id, chunkNo]);
      return next;
    }, { committed });
  }

  /**
   * REPLACE: a file code equal to a code of the list not yet handed out must stay in the list,
   * though REPLACE will remove the list's unassigned rows. Such rows are remembered here and
   * moved into the new range (at the code's place in the file) when the upload completes.
   * Returns how many new conflicts were recorded (each is a code of the file, kept once).
   */
  private async recordReplaceConflicts(tx: Tx, upload: CodeUpload, parsed: ParsedChunk): Promise<number> {
    const [{ claim_cursor: cursor }] = await tx.query(`SELECT claim_cursor FROM coupon_lists WHERE id = ?`, [upload.listId]);
    const seqOf = new Map<string, number>();
    codesOf(parsed).forEach((code, i) => {
      if (!seqOf.has(code)) seqOf.set(code, parsed.firstSeq + i);
    });
    const unique = [...seqOf.keys()];
    let kept = 0;
    for (let from = 0; from < unique.length; from += CONFLICT_LOOKUP_BATCH) {
      const batch = unique.slice(from, from + CONFLICT_LOOKUP_BATCH);
      // Rows at or below the cursor were handed out: those codes are duplicates, not conflicts.
      const rows: Array<{ seq: string; code: string }> = await tx.query(
        `SELECT seq, code FROM coupon_codes WHERE list_id = ? AND seq > ? AND seq <= ? AND code IN (?)`,
        [upload.listId, cursor, upload.seqBase, batch],
      );
      if (rows.length === 0) continue;
      const values = rows.map((row) => [upload.id, row.seq, seqOf.get(row.code)!]);
      const result = await tx.query(`INSERT IGNORE INTO code_upload_conflicts (upload_id, old_seq, new_seq) VALUES ?`, [values]);
      kept += result.affectedRows;
    }
    return kept;
  }

  /** Makes the upload's codes available, all at once, under the list row lock. */
  private async complete(upload: CodeUpload): Promise<CodeUpload> {
    const lists = this.app.get(CouponListService);
    await this.app.transaction(async (tx) => {
      const list = await lists.lockById(tx, upload.listId);
      const [row] = await tx.query(
        `SELECT status, chunks_done, chunk_count, codes_added, duplicates_skipped, replace_conflicts, seq_base, last_seq
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
        `UPDATE code_uploads SET status = 'COMPLETED', completed_at = NOW(3), codes_added = ?, duplicates_skipped = ?,
                cleanup_from = ?, cleanup_to = ?, settled = ?
          WHERE id = ? AND status = 'PROCESSING'`,
        [added, duplicates, cleanupFrom, cleanupTo, leftovers ? 0 : 1, upload.id],
      );
      if (completed.affectedRows !== 1) throw new WriteConflictError(`upload ${upload.id} changed state while completing`);
      await writeWebhookMessages(tx, uploadCompletedMessages(upload, list.totalCodes - list.assignedCodes, after, added, duplicates));
      tx.publish(new CouponListStockChanged(after));
    }, {
      // total_codes moved by the count of this upload: after a lost COMMIT, never run again if it is in.
      committed: async () => {
        const [row] = await this.app.dataSource.query(`SELECT status FROM code_uploads WHERE id = ?`, [upload.id]);
        return row?.status === UploadStatus.COMPLETED;
      },
    });
    const completed = await this.find(upload.id);
    if (!completed) throw new ImportSuperseded();
    return completed;
  }

  /**
   * Removes what a finished upload leaves behind, then lets the next upload of the list run:
   * a FAILED upload's invisible rows, a REPLACE's old unassigned rows (already out of reach of
   * claims), staged chunks and conflict notes. Idempotent; resumable after a crash.
   */
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

  private publishProgress(upload: CodeUpload): void {
    // Publishing while Redis is unreachable would only queue up; subscribers also poll.
    if (this.app.redis.status !== 'ready') return;
    this.app.pubSub.publish(uploadProgressTopic(upload.id), viewOf(upload));
  }
}
