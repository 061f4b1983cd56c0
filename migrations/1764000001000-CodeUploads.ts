import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Code uploads: one row per uploaded file, the file itself staged as raw chunks of whole lines
 * (so that API and workers need not share a disk), and the REPLACE conflicts that the completion
 * step resolves under the list lock.
 */
export class CodeUploads1764000001000 implements MigrationInterface {
  name = 'CodeUploads1764000001000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // Counters and line_errors are committed together with each chunk's codes: a retried job
    // resumes from chunks_done with exact figures. seq_base..last_seq is the upload's seq range
    // in coupon_codes (invisible to claims until completion). settled = 0 while the upload still
    // blocks later uploads of its list (running, or leftovers not yet removed).
    await queryRunner.query(`
      CREATE TABLE code_uploads (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
        list_id BIGINT UNSIGNED NOT NULL,
        file_name VARCHAR(255) NOT NULL,
        mode ENUM('APPEND','REPLACE') NOT NULL,
        status ENUM('QUEUED','PROCESSING','COMPLETED','FAILED') NOT NULL DEFAULT 'QUEUED',
        bytes_received BIGINT UNSIGNED NOT NULL DEFAULT 0,
        received_at DATETIME(3) NULL,
        chunk_count INT UNSIGNED NOT NULL DEFAULT 0,
        chunks_done INT UNSIGNED NOT NULL DEFAULT 0,
        lines_read INT UNSIGNED NOT NULL DEFAULT 0,
        blank_lines INT UNSIGNED NOT NULL DEFAULT 0,
        codes_added INT UNSIGNED NOT NULL DEFAULT 0,
        duplicates_skipped INT UNSIGNED NOT NULL DEFAULT 0,
        invalid_lines INT UNSIGNED NOT NULL DEFAULT 0,
        replace_conflicts INT UNSIGNED NOT NULL DEFAULT 0,
        line_errors JSON NOT NULL,
        failure_reason VARCHAR(1000) NULL,
        seq_base BIGINT UNSIGNED NULL,
        last_seq BIGINT UNSIGNED NULL,
        cleanup_from BIGINT UNSIGNED NULL,
        cleanup_to BIGINT UNSIGNED NULL,
        settled TINYINT(1) NOT NULL DEFAULT 0,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        started_at DATETIME(3) NULL,
        completed_at DATETIME(3) NULL,
        updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
        PRIMARY KEY (id),
        KEY idx_code_uploads_list (list_id, id),
        KEY idx_code_uploads_settled (settled, id),
        CONSTRAINT fk_code_uploads_list FOREIGN KEY (list_id) REFERENCES coupon_lists (id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);

    // A chunk holds whole lines (each ending in LF, except possibly the file's last line).
    // A line too long to stage is stored as a chunk of its own with long_line_bytes set and no data.
    await queryRunner.query(`
      CREATE TABLE code_upload_chunks (
        upload_id BIGINT UNSIGNED NOT NULL,
        chunk_no INT UNSIGNED NOT NULL,
        long_line_bytes BIGINT UNSIGNED NULL,
        data MEDIUMBLOB NOT NULL,
        PRIMARY KEY (upload_id, chunk_no)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);

    // REPLACE: a file code equal to an unassigned code of the list keeps that row; it is moved
    // from old_seq to new_seq (its place in the file order) when the upload completes.
    await queryRunner.query(`
      CREATE TABLE code_upload_conflicts (
        upload_id BIGINT UNSIGNED NOT NULL,
        old_seq BIGINT UNSIGNED NOT NULL,
        new_seq BIGINT UNSIGNED NOT NULL,
        PRIMARY KEY (upload_id, old_seq)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of ['code_upload_conflicts', 'code_upload_chunks', 'code_uploads']) {
      await queryRunner.query(`DROP TABLE IF EXISTS ${table}`);
    }
  }
}
