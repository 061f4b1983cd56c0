import { isUtf8 } from 'node:buffer';
import { MAX_CODE_LENGTH, codeProblem } from '../codes/code-rules.js';

const LF = 0x0a;
const TAB = 0x09;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;

export interface ChunkLineError {
  /** Index of the line within the chunk, from 0. */
  index: number;
  reason: string;
}

/**
 * A chunk's lines sorted out. The valid codes are already laid out as the bulk-load rows
 * "seq TAB code LF" (backslash escaped), seq counting up from firstSeq in file order: no
 * JavaScript string is made for a plain code, which keeps memory flat on huge files.
 */
export interface ParsedChunk {
  firstSeq: number;
  /** Valid codes (duplicates included: the database decides what is new). */
  count: number;
  rows: Buffer;
  /** Every line of the chunk: blank + valid + invalid. */
  lines: number;
  blankLines: number;
  invalidLines: number;
  /** The first `maxErrors` rejected lines of the chunk. */
  errors: ChunkLineError[];
}

export interface ParseOptions {
  /** The chunk starts the file: a UTF-8 byte-order mark there is not part of the first line. */
  startsFile: boolean;
  /** The chunk stands for one line of this many bytes, too long to be a code. */
  longLineBytes: number | null;
  maxErrors: number;
  firstSeq: number;
  /** Where the rows are written; the result's rows are valid until it is used again. */
  into?: RowBuffer;
}

export const tooLongLineReason = (bytes: number) => `is ${bytes} bytes long; a code has at most ${MAX_CODE_LENGTH} characters`;
export const INVALID_UTF8_REASON = 'is not valid UTF-8 text';

/** ASCII white space that JavaScript's trim() removes too. */
const isAsciiSpace = (byte: number) => byte === 0x20 || (byte >= TAB && byte <= 0x0d);

/**
 * Memory for the rows of one chunk, reused chunk after chunk (an import alternates two: one
 * being written to the database while the next chunk is parsed), so that importing a file
 * of any size leaves no garbage to collect.
 */
export class RowBuffer {
  buffer = Buffer.allocUnsafe(0);
}

/** Writes rows into a RowBuffer, growing it when a chunk needs more. */
class RowWriter {
  length = 0;

  constructor(
    private readonly target: RowBuffer,
    expected: number,
  ) {
    this.ensure(expected);
  }

  get buffer(): Buffer {
    return this.target.buffer;
  }

  ensure(extra: number): void {
    if (this.length + extra <= this.target.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.target.buffer.length * 2, this.length + extra, 64 * 1024));
    this.target.buffer.copy(grown, 0, 0, this.length);
    this.target.buffer = grown;
  }

  writeSeq(seq: number): void {
    let digits = 1;
    for (let n = seq; n >= 10; n = Math.floor(n / 10)) digits++;
    this.ensure(digits + 1);
    let n = seq;
    for (let i = this.length + digits - 1; i >= this.length; i--) {
      this.buffer[i] = 48 + (n % 10);
      n = Math.floor(n / 10);
    }
    this.length += digits;
    this.buffer[this.length++] = TAB;
  }
}

/**
 * Applies the line rules to a chunk of whole lines: LF or CRLF line ends, surrounding white
 * space trimmed, blank lines skipped, a line without a final LF is still a line. A line that
 * is not valid UTF-8 is rejected rather than decoded with replacement characters, so no code is
 * ever stored altered.
 */
export function parseChunk(data: Buffer, options: ParseOptions): ParsedChunk {
  const result: ParsedChunk = { firstSeq: options.firstSeq, count: 0, rows: Buffer.alloc(0), lines: 0, blankLines: 0, invalidLines: 0, errors: [] };
  const reject = (index: number, reason: string) => {
    result.invalidLines++;
    if (result.errors.length < options.maxErrors) result.errors.push({ index, reason });
  };
  if (options.longLineBytes !== null) {
    result.lines = 1;
    reject(0, tooLongLineReason(options.longLineBytes));
    return result;
  }

  // Rows ("seq TAB code LF") are a little longer than the lines they come from.
  const out = new RowWriter(options.into ?? new RowBuffer(), 2 * data.length);
  let start = options.startsFile && data[0] === 0xef && data[1] === 0xbb && data[2] === 0xbf ? 3 : 0;
  let index = 0;
  while (start < data.length) {
    let lineEnd = data.indexOf(LF, start);
    if (lineEnd === -1) lineEnd = data.length;
    let from = start;
    let to = lineEnd;
    const line = index++;
    start = lineEnd + 1;
    result.lines++;
    while (from < to && isAsciiSpace(data[from])) from++;
    while (to > from && isAsciiSpace(data[to - 1])) to--;
    if (from === to) {
      result.blankLines++;
      continue;
    }

    // Plain printable ASCII without comma, 1-64 bytes: valid by every rule, copied as it is.
    const rowStart = out.length;
    out.writeSeq(options.firstSeq + result.count);
    let plain = to - from <= MAX_CODE_LENGTH;
    if (plain) {
      out.ensure(2 * (to - from) + 1);
      const buffer = out.buffer;
      let at = out.length;
      for (let i = from; i < to; i++) {
        const byte = data[i];
        if (byte < 0x21 || byte > 0x7e || byte === COMMA) {
          plain = false;
          break;
        }
        if (byte === BACKSLASH) buffer[at++] = BACKSLASH;
        buffer[at++] = byte;
      }
      if (plain) {
        buffer[at++] = LF;
        out.length = at;
        result.count++;
        continue;
      }
    }
    out.length = rowStart;

    const text = data.toString('utf8', from, to);
    if (text.includes('\uFFFD') && !isUtf8(data.subarray(from, to))) {
      reject(line, INVALID_UTF8_REASON);
      continue;
    }
    const code = text.trim();
    if (code.length === 0) {
      result.blankLines++;
      continue;
    }
    const problem = codeProblem(code);
    if (problem) {
      reject(line, problem);
      continue;
    }
    out.writeSeq(options.firstSeq + result.count);
    const bytes = Buffer.from(code.replace(/\\/g, '\\\\'), 'utf8');
    out.ensure(bytes.length + 1);
    bytes.copy(out.buffer, out.length);
    out.length += bytes.length;
    out.buffer[out.length++] = LF;
    result.count++;
  }
  result.rows = out.buffer.subarray(0, out.length);
  return result;
}

/** The codes of a parsed chunk as strings, in order (index i has seq firstSeq + i). */
export function codesOf(parsed: ParsedChunk): string[] {
  const codes: string[] = new Array(parsed.count);
  const rows = parsed.rows;
  let start = 0;
  for (let i = 0; i < parsed.count; i++) {
    const end = rows.indexOf(LF, start);
    const tab = rows.indexOf(TAB, start);
    const code = rows.toString('utf8', tab + 1, end);
    codes[i] = code.includes('\\') ? code.replace(/\\\\/g, '\\') : code;
    start = end + 1;
  }
  return codes;
}
