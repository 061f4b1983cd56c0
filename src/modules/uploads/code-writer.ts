import { Readable } from 'node:stream';
import mysql from 'mysql2';
import type { AppContext } from '../../app-context.js';
import { transactionConnection } from '../../infra/db/special-connections.js';
import type { Tx } from '../../infra/db/transaction.js';
import { codesOf, type ParsedChunk } from './line-parser.js';

/** Rows per multi-row INSERT when LOAD DATA LOCAL INFILE is not allowed by the server. */
const INSERT_BATCH = 5000;

/** Errors meaning the server (or client) does not allow LOAD DATA LOCAL INFILE. */
const LOCAL_INFILE_REFUSED = new Set([1148, 3948, 2068]);

/**
 * Writes an upload's codes into coupon_codes, skipping codes the list already has
 * (UNIQUE(list_id, code) decides, byte for byte). Uses LOAD DATA LOCAL INFILE, streamed from
 * memory, which is the fastest bulk path of MySQL/MariaDB; falls back to multi-row INSERT IGNORE
 * where the server refuses it.
 */
export class CodeWriter {
  private loadDataAllowed = true;
  private splittingChecked: Promise<void> | null = null;

  constructor(private readonly app: AppContext) {}

  /** Inserts the chunk's codes with their seq and returns how many rows were new. */
  async insert(tx: Tx, listId: string, uploadId: string, parsed: ParsedChunk): Promise<number> {
    if (parsed.count === 0) return 0;
    this.splittingChecked ??= this.checkLoadDataSplitting(tx).catch((error: unknown) => {
      this.splittingChecked = null;
      throw error;
    });
    await this.splittingChecked;
    if (this.loadDataAllowed) {
      try {
        return await this.loadData(tx, listId, uploadId, parsed);
      } catch (error) {
        if (!LOCAL_INFILE_REFUSED.has((error as { errno?: number }).errno ?? 0)) throw error;
        this.loadDataAllowed = false;
        this.app.logger.warn({ errno: (error as { errno?: number }).errno }, 'LOAD DATA LOCAL INFILE is not allowed; uploads use multi-row INSERT');
      }
    }
    return this.insertRows(tx, listId, uploadId, parsed);
  }

  /**
   * Galera with wsrep_load_data_splitting=ON commits LOAD DATA every 10,000 rows on its own,
   * outside the chunk's transaction: then chunks go in by INSERT, which stays in the transaction.
   * (A chunk is about 1 MiB of file: its write set stays far below wsrep_max_ws_size.)
   */
  private async checkLoadDataSplitting(tx: Tx): Promise<void> {
    const rows: Array<{ Value: string }> = await tx.query("SHOW GLOBAL VARIABLES LIKE 'wsrep_load_data_splitting'");
    if (rows[0] && String(rows[0].Value).toUpperCase() === 'ON') {
      this.loadDataAllowed = false;
      this.app.logger.warn('wsrep_load_data_splitting is ON: uploads use multi-row INSERT so that each chunk commits whole');
    }
  }

  private async loadData(tx: Tx, listId: string, uploadId: string, parsed: ParsedChunk): Promise<number> {
    const connection = await transactionConnection(tx);
    const result = await connection.loadLocalInfile(
      // The rows are "seq TAB code LF" with backslashes escaped (codes hold no tab, LF or control character).
      `LOAD DATA LOCAL INFILE 'codes.tsv' IGNORE INTO TABLE coupon_codes CHARACTER SET utf8mb4 ` +
        `FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (seq, code) ` +
        `SET list_id = ${mysql.escape(listId)}, upload_id = ${mysql.escape(uploadId)}`,
      () => Readable.from([parsed.rows]),
    );
    return result.affectedRows;
  }

  private async insertRows(tx: Tx, listId: string, uploadId: string, parsed: ParsedChunk): Promise<number> {
    const codes = codesOf(parsed);
    const list = mysql.escape(listId);
    const upload = mysql.escape(uploadId);
    let inserted = 0;
    for (let from = 0; from < codes.length; from += INSERT_BATCH) {
      const values: string[] = [];
      for (let i = from; i < Math.min(codes.length, from + INSERT_BATCH); i++) {
        values.push(`(${list},${parsed.firstSeq + i},${mysql.escape(codes[i])},${upload})`);
      }
      const result = await tx.query<{ affectedRows: number }>(`INSERT IGNORE INTO coupon_codes (list_id, seq, code, upload_id) VALUES ${values.join(',')}`);
      inserted += result.affectedRows;
    }
    return inserted;
  }
}
