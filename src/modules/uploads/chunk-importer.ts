import type { AppContext } from '../../app-context.js';
import { WriteConflictError, type Tx } from '../../infra/db/transaction.js';
import { CodeUpload, MAX_LINE_ERRORS, UploadMode, UploadStatus, type UploadLineError } from './code-upload.entity.js';
import { CodeWriter } from './code-writer.js';
import { RowBuffer, codesOf, parseChunk, type ParsedChunk } from './line-parser.js';

/** Codes per lookup of REPLACE conflicts. */
const CONFLICT_LOOKUP_BATCH = 5000;

/** This run must stop: the upload was finished or taken over by another run. */
export class ImportSuperseded extends Error {}

interface ChunkRow {
  data: Buffer;
  long_line_bytes: string | null;
}

/**
 * Imports one staged chunk of an upload. Every chunk is one transaction: its codes (with seq
 * above the list's visible_seq, so claims cannot see them), the upload's counters and kept line
 * errors, and the removal of the staged chunk. A run killed at any point resumes at the first
 * chunk not committed, so each code is loaded exactly once and the counters stay exact.
 */
export class ChunkImporter {
  constructor(
    private readonly app: AppContext,
    private readonly writer: CodeWriter = new CodeWriter(app),
  ) {}

  /** Reads and parses staged chunk `chunkNo` (its codes numbered from firstSeq) into `into`. */
  async read(upload: CodeUpload, chunkNo: number, firstSeq: number, into: RowBuffer): Promise<ParsedChunk> {
    const rows: ChunkRow[] = await this.app.dataSource.query(
      `SELECT data, long_line_bytes FROM code_upload_chunks WHERE upload_id = ? AND chunk_no = ?`,
      [upload.id, chunkNo],
    );
    if (rows.length === 0) {
      // Imported and removed by another run meanwhile: this run stops.
      const now = await this.app.dataSource.getRepository(CodeUpload).findOne({ where: { id: upload.id } });
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

  /**
   * One transaction: the chunk's codes, the upload's counters and kept line errors, and the
   * removal of the staged chunk. Returns the upload as it now is.
   */
  async write(current: CodeUpload, chunkNo: number, parsed: ParsedChunk): Promise<CodeUpload> {
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
}
