import type { Readable } from 'node:stream';
import type { FileUpload } from 'graphql-upload-minimal';
import type { AppContext } from '../../app-context.js';
import { BadUserInputError, NotFoundError } from '../../common/errors.js';
import { isRowId } from '../../common/ids.js';
import { withDriverConnection } from '../../infra/db/special-connections.js';
import { CouponListKind } from '../lists/coupon-list.entity.js';
import { CouponListService } from '../lists/coupon-list.service.js';
import { CodeImportService } from './code-import.service.js';
import { CodeUpload, UploadMode, UploadStatus, isFinished, viewOf, type CodeUploadView } from './code-upload.entity.js';
import { LineChunker, type StagedChunk } from './line-chunker.js';
import { enqueueImport, uploadProgressTopic } from './upload-queue.js';

/** Staged chunk size: big enough for fast bulk writes, small enough to commit about twice a second. */
const CHUNK_BYTES = 1024 * 1024;
/** A line longer than this cannot be a code (64 characters plus white space); it is counted, not kept. */
const MAX_LINE_BYTES = 64 * 1024;
const MAX_PAGE = 500;
const POLL_INTERVAL_MS = 1000;

export const TRANSFER_INTERRUPTED = 'The file transfer was interrupted before the end of the file; nothing was loaded. Upload the file again.';
export const UTF16_FILE = 'The file is UTF-16 encoded; save it as UTF-8 text, one code per line, and upload it again. Nothing was loaded.';
export const oversizeReason = (limit: number) =>
  `The file is larger than the limit of ${limit} bytes (MAX_UPLOAD_BYTES); nothing was loaded. Split it into smaller files.`;

/** The upload was failed while its file was still arriving (e.g. given up as cut off). */
class TransferCancelled extends Error {}

/**
 * The API side of code uploads: checks the request, streams the file into MySQL as chunks of
 * whole lines (never holding the file in memory, never handing a local file to a worker), then
 * queues the import. Also reads uploads and follows their progress.
 */
export class CodeUploadService {
  private readonly polls = new Map<string, { listeners: Set<(row: CodeUpload | null) => void>; timer: NodeJS.Timeout }>();

  constructor(
    private readonly app: AppContext,
    private readonly lists: CouponListService = app.get(CouponListService),
    private readonly imports: CodeImportService = app.get(CodeImportService),
  ) {
    app.onShutdown(() => {
      for (const poll of this.polls.values()) clearInterval(poll.timer);
      this.polls.clear();
    });
  }

  async findById(id: string): Promise<CodeUpload | null> {
    if (!isRowId(id)) return null;
    return this.app.dataSource.getRepository(CodeUpload).findOne({ where: { id } });
  }

  /** A list's uploads, newest first. */
  async listUploads(listId: string, first: number): Promise<CodeUpload[]> {
    if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE) throw new BadUserInputError('first', `must be between 1 and ${MAX_PAGE}`);
    await this.lists.getById(listId);
    return this.app.dataSource.getRepository(CodeUpload).find({ where: { listId }, order: { id: 'DESC' }, take: first });
  }

  async upload(listId: string, filePromise: Promise<FileUpload>, mode: UploadMode | null | undefined): Promise<CodeUpload> {
    let file: FileUpload;
    try {
      file = await filePromise;
    } catch {
      throw new BadUserInputError('file', 'no file arrived: send the file as a GraphQL multipart request');
    }
    let stream: Readable | null = null;
    let streamError: unknown = null;
    try {
      stream = file.createReadStream() as unknown as Readable;
    } catch (error) {
      streamError = error;
    }
    const discard = () => {
      stream?.on('error', () => undefined);
      stream?.resume();
    };

    let fileName: string;
    try {
      const list = await this.lists.getById(listId);
      if (list.kind !== CouponListKind.UNIQUE) {
        throw new BadUserInputError('listId', 'codes can only be uploaded to a UNIQUE list; this list is FIXED (it has one shared code)');
      }
      fileName = (file.filename ?? '').trim();
      if (!/\.txt$/i.test(fileName)) {
        throw new BadUserInputError('file', `the file must be a .txt file with one code per line; got ${JSON.stringify(fileName)}`);
      }
      if ([...fileName].length > 255) throw new BadUserInputError('file', 'the file name must be at most 255 characters');
    } catch (error) {
      discard();
      throw error;
    }

    const upload = await this.app.dataSource.getRepository(CodeUpload).save(
      Object.assign(new CodeUpload(), {
        listId,
        fileName,
        mode: mode ?? UploadMode.APPEND,
        status: UploadStatus.QUEUED,
        errors: [],
        settled: false,
      } satisfies Partial<CodeUpload>),
    );
    const limit = this.app.config.MAX_UPLOAD_BYTES;
    if (!stream) {
      // graphql-upload-minimal refuses to hand out a file that already went over maxFileSize.
      const oversize = (streamError as { status?: number })?.status === 413;
      return this.abandon(upload.id, oversize ? oversizeReason(limit) : TRANSFER_INTERRUPTED);
    }

    let truncated = false;
    stream.once('limit', () => (truncated = true));
    let bytes = 0;
    let chunks = 0;
    let head = Buffer.alloc(0);
    let refusal: string | null = null;
    const store = async (chunk: StagedChunk) => {
      chunks++;
      await this.insertChunk(upload.id, chunks, chunk);
      // Also the sign of life that keeps the recovery sweep from giving the transfer up.
      const result = await this.app.dataSource.query(`UPDATE code_uploads SET chunk_count = ?, bytes_received = ? WHERE id = ? AND status = 'QUEUED'`, [
        chunks, bytes, upload.id,
      ]);
      if (result.affectedRows !== 1) throw new TransferCancelled();
    };
    const chunker = new LineChunker({ targetBytes: CHUNK_BYTES, maxLineBytes: MAX_LINE_BYTES }, store);
    try {
      // Not destroyed on an early exit: the rest of the request is then read and dropped, so it completes.
      for await (const piece of stream.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
        bytes += piece.length;
        if (refusal || truncated || bytes > limit) {
          truncated ||= bytes > limit;
          continue;
        }
        if (head.length < 2) {
          head = Buffer.concat([head, piece.subarray(0, 2)]).subarray(0, 2);
          if ((head[0] === 0xff && head[1] === 0xfe) || (head[0] === 0xfe && head[1] === 0xff)) {
            refusal = UTF16_FILE;
            continue;
          }
        }
        await chunker.push(piece);
      }
      truncated ||= (stream as { truncated?: boolean }).truncated === true;
      if (refusal) return this.abandon(upload.id, refusal);
      if (truncated) return this.abandon(upload.id, oversizeReason(limit));
      await chunker.end();
    } catch (error) {
      discard();
      if (!(error instanceof TransferCancelled)) this.app.logger.warn({ err: error, uploadId: upload.id }, 'code upload transfer failed');
      return this.abandon(upload.id, TRANSFER_INTERRUPTED);
    }

    const received = await this.app.dataSource.query(
      `UPDATE code_uploads SET received_at = NOW(3), chunk_count = ?, bytes_received = ? WHERE id = ? AND status = 'QUEUED' AND received_at IS NULL`,
      [chunks, bytes, upload.id],
    );
    if (received.affectedRows !== 1) return this.abandon(upload.id, TRANSFER_INTERRUPTED);
    try {
      await enqueueImport(this.app, upload.id);
    } catch (error) {
      // The workers' recovery sweep queues every received upload that has no job.
      this.app.logger.warn({ err: error, uploadId: upload.id }, 'could not queue the code import; the recovery sweep will');
    }
    // As received: QUEUED, the whole file staged (its progress is followed with codeUpload).
    return Object.assign(upload, { chunkCount: chunks, bytesReceived: bytes });
  }

  /** A prepared statement: the bytes go to the server as they are (a text query would send them as hex). */
  private async insertChunk(uploadId: string, chunkNo: number, chunk: StagedChunk): Promise<void> {
    await withDriverConnection(this.app.dataSource, (connection) =>
      connection.execute(`INSERT INTO code_upload_chunks (upload_id, chunk_no, long_line_bytes, data) VALUES (?, ?, ?, ?)`, [uploadId, chunkNo, chunk.longLineBytes, chunk.data]),
    );
  }

  /**
   * Fails an upload whose file did not arrive whole. Only the row is marked here: a worker's job
   * removes what was staged (the recovery sweep queues that job if this enqueue is lost).
   */
  private async abandon(uploadId: string, reason: string): Promise<CodeUpload> {
    try {
      const failed = await this.imports.markFailed(uploadId, reason);
      await enqueueImport(this.app, uploadId).catch((error: unknown) =>
        this.app.logger.warn({ err: error, uploadId }, 'could not queue the clean-up of a failed upload; the recovery sweep will'),
      );
      return failed ?? (await this.findById(uploadId))!;
    } catch (error) {
      // Whatever was staged is removed by a worker's recovery sweep.
      this.app.logger.warn({ err: error, uploadId }, 'could not record a failed code upload');
      throw new BadUserInputError('file', reason);
    }
  }

  /** Checks that the upload exists, then follows it (see watch). */
  async follow(uploadId: string): Promise<AsyncIterable<CodeUploadView>> {
    const upload = await this.findById(uploadId);
    if (!upload) throw new NotFoundError('Code upload', uploadId);
    return this.watch(upload);
  }

  /**
   * Calls `listener` with the upload's row once per poll interval. However many subscribers
   * follow one upload in this process, one timer reads it; the timer stops with the last.
   */
  private onPoll(uploadId: string, listener: (row: CodeUpload | null) => void): () => void {
    let poll = this.polls.get(uploadId);
    if (!poll) {
      const listeners = new Set<(row: CodeUpload | null) => void>();
      const timer = setInterval(() => {
        this.findById(uploadId).then(
          (row) => listeners.forEach((notify) => notify(row)),
          (error: unknown) => this.app.logger.warn({ err: error, uploadId }, 'code upload progress poll failed'),
        );
      }, POLL_INTERVAL_MS).unref();
      poll = { listeners, timer };
      this.polls.set(uploadId, poll);
    }
    const current = poll;
    current.listeners.add(listener);
    return () => {
      current.listeners.delete(listener);
      if (current.listeners.size > 0) return;
      clearInterval(current.timer);
      if (this.polls.get(uploadId) === current) this.polls.delete(uploadId);
    };
  }

  /**
   * The upload now, then whenever a worker reports progress (any process, through Redis), and
   * at least once a second from the database (the shared poll) while it runs; ends after
   * COMPLETED or FAILED.
   */
  private async *watch(upload: CodeUpload): AsyncGenerator<CodeUploadView> {
    const updates = this.app.pubSub.subscribe(uploadProgressTopic(upload.id))[Symbol.asyncIterator]();
    let polled!: Promise<{ polled: CodeUpload | null }>;
    let resolvePolled: (value: { polled: CodeUpload | null }) => void = () => undefined;
    const nextPoll = () => (polled = new Promise((resolve) => (resolvePolled = resolve)));
    nextPoll();
    const stopPolling = this.onPoll(upload.id, (row) => {
      const resolve = resolvePolled;
      nextPoll();
      resolve({ polled: row });
    });
    try {
      // Listening starts before the first read, so no report after that read is missed.
      let pending = updates.next();
      const first = (await this.findById(upload.id)) ?? upload;
      let current = viewOf(first);
      yield current;
      while (!isFinished(current)) {
        const winner = await Promise.race([pending, polled]);
        let next: CodeUploadView | null;
        if ('polled' in winner) {
          next = winner.polled ? viewOf(winner.polled) : null;
        } else {
          if (winner.done) return;
          pending = updates.next();
          next = winner.value as CodeUploadView;
        }
        // A late message must not move progress backwards.
        if (!next || (!isFinished(next) && next.linesRead + next.blankLines < current.linesRead + current.blankLines)) continue;
        current = next;
        yield current;
      }
    } finally {
      stopPolling();
      await updates.return?.();
    }
  }
}
