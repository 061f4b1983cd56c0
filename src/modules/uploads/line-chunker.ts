const LF = 0x0a;
const EMPTY = Buffer.alloc(0);
/** Incoming pieces are taken this much at a time, so a chunk never grows far beyond its target. */
const MAX_PIECE_BYTES = 256 * 1024;

/** A piece of an uploaded file: whole lines, or one line too long to keep. */
export interface StagedChunk {
  /** Whole lines, each ending in LF except possibly the file's last line. */
  data: Buffer;
  /** Set when this chunk stands for exactly one line of this many bytes, dropped as too long. */
  longLineBytes: number | null;
}

export interface LineChunkerOptions {
  /** A chunk is cut at the first line end once it holds this many bytes. */
  targetBytes: number;
  /** A longer line is not kept: it can never be a code, and keeping it would cost unbounded memory. */
  maxLineBytes: number;
}

/**
 * Cuts a byte stream into chunks of whole lines of about `targetBytes`. The bytes are not
 * decoded or changed: the worker applies the line rules, so that a chunk is a faithful,
 * resumable unit of the file.
 *
 * All lines are gathered in one buffer allocated once and reused for every chunk, so that a
 * file of any size costs the same memory and leaves no garbage behind: a chunk handed to `sink`
 * is valid until the sink's promise settles.
 */
export class LineChunker {
  private readonly buffer: Buffer;
  /** Bytes of whole lines at the start of the buffer. */
  private size = 0;
  /** Bytes of the line being received, right after them. */
  private lineBytes = 0;
  /** Bytes of an over-long line being skipped, or -1. */
  private skipped = -1;

  constructor(
    private readonly options: LineChunkerOptions,
    private readonly sink: (chunk: StagedChunk) => Promise<void>,
  ) {
    this.buffer = Buffer.allocUnsafe(options.targetBytes + options.maxLineBytes + MAX_PIECE_BYTES);
  }

  async push(bytes: Buffer): Promise<void> {
    for (let offset = 0; offset < bytes.length; offset += MAX_PIECE_BYTES) {
      await this.pushPiece(bytes.subarray(offset, offset + MAX_PIECE_BYTES));
    }
  }

  /** The rest of the file: its last line (if it has no LF) and the last chunk. */
  async end(): Promise<void> {
    if (this.skipped >= 0) {
      // While a line is skipped nothing is buffered: the lines before it were flushed already.
      await this.sink({ data: EMPTY, longLineBytes: this.skipped });
      this.skipped = -1;
      return;
    }
    this.size += this.lineBytes;
    this.lineBytes = 0;
    await this.flush();
  }

  private async pushPiece(piece: Buffer): Promise<void> {
    let pos = 0;
    while (pos < piece.length) {
      const lineEnd = piece.indexOf(LF, pos);
      if (this.skipped >= 0) {
        if (lineEnd === -1) {
          this.skipped += piece.length - pos;
          return;
        }
        await this.sink({ data: EMPTY, longLineBytes: this.skipped + (lineEnd - pos) });
        this.skipped = -1;
        pos = lineEnd + 1;
        continue;
      }
      const segmentEnd = lineEnd === -1 ? piece.length : lineEnd;
      if (this.lineBytes + (segmentEnd - pos) > this.options.maxLineBytes) {
        // The current line is too long: the lines before it become a chunk; the line is counted, not kept.
        const skipped = this.lineBytes + (segmentEnd - pos);
        this.lineBytes = 0;
        await this.flush();
        if (lineEnd === -1) {
          this.skipped = skipped;
          return;
        }
        await this.sink({ data: EMPTY, longLineBytes: skipped });
        pos = lineEnd + 1;
        continue;
      }
      if (lineEnd === -1) {
        piece.copy(this.buffer, this.size + this.lineBytes, pos);
        this.lineBytes += piece.length - pos;
        return;
      }
      // The current line ends at lineEnd. Every line between lineEnd and the piece's last LF
      // is shorter than that span, so when the span is short they can be taken as one block.
      const lastEnd = piece.lastIndexOf(LF);
      const blockEnd = lastEnd - lineEnd <= this.options.maxLineBytes ? lastEnd : lineEnd;
      piece.copy(this.buffer, this.size + this.lineBytes, pos, blockEnd + 1);
      this.size += this.lineBytes + (blockEnd + 1 - pos);
      this.lineBytes = 0;
      pos = blockEnd + 1;
      if (this.size >= this.options.targetBytes) await this.flush();
    }
  }

  /** Hands the whole lines over, then moves the line being received to the front. */
  private async flush(): Promise<void> {
    if (this.size > 0) await this.sink({ data: this.buffer.subarray(0, this.size), longLineBytes: null });
    if (this.lineBytes > 0) this.buffer.copy(this.buffer, 0, this.size, this.size + this.lineBytes);
    this.size = 0;
  }
}
