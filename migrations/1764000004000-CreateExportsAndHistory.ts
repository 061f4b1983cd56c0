import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Usage exports (one row per requested CSV file) and server-wide secrets shared by every process
 * (the key that signs export download links).
 */
export class CreateExportsAndHistory1764000004000 implements MigrationInterface {
  name = 'CreateExportsAndHistory1764000004000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // No foreign key to coupon_lists: inserting a child row would take a shared lock on the list
    // row, which claims hold FOR UPDATE on the hot path.
    await queryRunner.query(`
      CREATE TABLE coupon_usage_exports (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
        list_id BIGINT UNSIGNED NOT NULL,
        campaign_id BIGINT UNSIGNED NULL,
        assigned_from DATETIME(3) NULL,
        assigned_to DATETIME(3) NULL,
        status ENUM('QUEUED','PROCESSING','COMPLETED','FAILED') NOT NULL DEFAULT 'QUEUED',
        row_count INT UNSIGNED NULL,
        file_key VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin NULL,
        file_bytes BIGINT UNSIGNED NULL,
        failure_reason VARCHAR(500) NULL,
        requested_by VARCHAR(40) NULL,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        started_at DATETIME(3) NULL,
        snapshot_at DATETIME(3) NULL,
        completed_at DATETIME(3) NULL,
        file_expires_at DATETIME(3) NULL,
        file_removed_at DATETIME(3) NULL,
        PRIMARY KEY (id),
        KEY idx_coupon_usage_exports_list (list_id, created_at),
        KEY idx_coupon_usage_exports_status (status, file_expires_at)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);

    await queryRunner.query(`
      CREATE TABLE app_secrets (
        name VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        secret VARBINARY(64) NOT NULL,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        PRIMARY KEY (name)
      ) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE IF EXISTS app_secrets');
    await queryRunner.query('DROP TABLE IF EXISTS coupon_usage_exports');
  }
}
