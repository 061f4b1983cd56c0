import { Writable } from 'node:stream';

/**
 * The usage CSV: RFC 4180 with CRLF line ends, UTF-8 without a byte-order mark.
 *
 * Values are written as stored, except that a value beginning with `=`, `+`, `-`, `@`, a tab or
 * a carriage return gets a leading `'`: user and external ids come from clients, and a
 * spreadsheet would run such a cell as a formula (OWASP's advice on CSV injection; see
 * docs/exports-and-history.md).
 */
export const USAGE_CSV_HEADER = 'external_id,user_id,coupon_code,assigned_at,redeemed_at,order_id';

const NEEDS_QUOTES = /[",\r\n]|^[ \t]|[ \t]$/;
const QUOTE = /"/g;
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * One field, formula-escaped (see above). Quoted when it holds a comma, quote, CR or LF (RFC 4180), or starts or ends with
 * white space (which lenient readers would trim). A null is an empty field; an empty string is
 * `""`, so the two stay distinguishable.
 */
export function csvField(stored: string | null): string {
  if (stored === null) return '';
  if (stored === '') return '""';
  const value = FORMULA_START.test(stored) ? `'${stored}` : stored;
  return NEEDS_QUOTES.test(value) ? `"${value.replace(QUOTE, '""')}"` : value;
}

/**
 * "2026-11-24 20:33:03.123" (DATETIME(3) read as a string, stored in UTC) → "2026-11-24T20:33:03.123Z".
 */
export function isoFromDatetimeText(text: string): string {
  return text.length === 23 ? `${text.slice(0, 10)}T${text.slice(11)}Z` : new Date(`${text.replace(' ', 'T')}Z`).toISOString();
}

/**
 * A row as read from the database: external_id, user_id, code, assigned_at (DATETIME(3) text),
 * and the live redemption's redeemed_at (DATETIME(3) text) and order_id, null when not redeemed.
 */
export type UsageRow = [string | null, string, string, string, string | null, string | null];

const CHUNK_BYTES = 256 * 1024;
/** Room always left for one more row: four 191/64-character fields, each up to 4 bytes a character and doubled by quoting. */
const MAX_ROW_BYTES = 8 * 1024;

/**
 * Writes database rows as CSV into `target`. Rows are formatted straight into one buffer that
 * is written when nearly full and reused once the write is done: the export allocates no
 * buffer per chunk, and what it allocates per row dies young, so memory stays flat however
 * long the list. Back-pressure: a row is acknowledged only when there is room for the next.
 */
export class UsageCsvWriter extends Writable {
  rows = 0;
  private readonly buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  private length = 0;

  constructor(private readonly target: Writable) {
    super({ objectMode: true, highWaterMark: 64 });
    this.length = this.buffer.write(`${USAGE_CSV_HEADER}\r\n`, 0, 'utf8');
  }

  override _write(row: UsageRow, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    // One short-lived string per row, encoded straight into the buffer.
    const redeemedAt = row[4] === null ? '' : isoFromDatetimeText(row[4]);
    this.length += this.buffer.write(
      `${csvField(row[0])},${csvField(row[1])},${csvField(row[2])},${isoFromDatetimeText(row[3])},${redeemedAt},${csvField(row[5])}\r\n`,
      this.length,
      'utf8',
    );
    this.rows++;
    if (this.length > CHUNK_BYTES - MAX_ROW_BYTES) this.flush(callback);
    else callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.flush(callback);
  }

  /** Hands the filled part of the buffer to the target; the buffer is reused after the target is done with it. */
  private flush(callback: (error?: Error | null) => void): void {
    if (this.length === 0) return callback();
    const chunk = this.buffer.subarray(0, this.length);
    this.length = 0;
    this.target.write(chunk, (error) => callback(error ?? null));
  }
}
