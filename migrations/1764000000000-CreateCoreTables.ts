import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Keys, lists, campaigns, codes, assignments and the claim windows.
 * Codes and user ids are compared byte for byte (utf8mb4_bin): "abc" and "ABC" are two codes.
 */
export class CreateCoreTables1764000000000 implements MigrationInterface {
  name = 'CreateCoreTables1764000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE api_keys (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
        name VARCHAR(200) NOT NULL,
        role ENUM('ADMIN','CLIENT','VIEWER') NOT NULL,
        key_hash CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        revoked_at DATETIME(3) NULL,
        PRIMARY KEY (id),
        UNIQUE KEY uq_api_keys_hash (key_hash)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);

    await queryRunner.query(`
      CREATE TABLE coupon_lists (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
        name VARCHAR(200) NOT NULL,
        kind ENUM('FIXED','UNIQUE') NOT NULL,
        fixed_code VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
        fixed_limit INT NULL,
        total_codes INT NOT NULL DEFAULT 0,
        assigned_codes INT NOT NULL DEFAULT 0,
        warning_limit INT NULL,
        alert_emails JSON NOT NULL,
        expires_at DATETIME(3) NULL,
        claim_cursor BIGINT UNSIGNED NOT NULL DEFAULT 0,
        visible_seq BIGINT UNSIGNED NOT NULL DEFAULT 0,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
        PRIMARY KEY (id),
        KEY idx_coupon_lists_name (name),
        KEY idx_coupon_lists_expires_at (expires_at)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);

    await queryRunner.query(`
      CREATE TABLE campaigns (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
        name VARCHAR(200) NOT NULL,
        kind ENUM('SPIN_TO_WIN','COPY_BUTTON','WIDGET','AUTOMATED') NOT NULL,
        status ENUM('ACTIVE','FINISHED') NOT NULL DEFAULT 'ACTIVE',
        finish_reason ENUM('LIST_EXHAUSTED','LIST_EXPIRED','MANUAL') NULL,
        finished_at DATETIME(3) NULL,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
        PRIMARY KEY (id),
        KEY idx_campaigns_status (status)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);

    await queryRunner.query(`
      CREATE TABLE campaign_lists (
        campaign_id BIGINT UNSIGNED NOT NULL,
        list_id BIGINT UNSIGNED NOT NULL,
        position INT NOT NULL,
        PRIMARY KEY (campaign_id, list_id),
        KEY idx_campaign_lists_list (list_id),
        CONSTRAINT fk_campaign_lists_campaign FOREIGN KEY (campaign_id) REFERENCES campaigns (id) ON DELETE CASCADE,
        CONSTRAINT fk_campaign_lists_list FOREIGN KEY (list_id) REFERENCES coupon_lists (id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);

    // Clustered by (list_id, seq): claims read the next codes of a list as one short range.
    await queryRunner.query(`
      CREATE TABLE coupon_codes (
        list_id BIGINT UNSIGNED NOT NULL,
        seq BIGINT UNSIGNED NOT NULL,
        code VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
        upload_id BIGINT UNSIGNED NULL,
        PRIMARY KEY (list_id, seq),
        UNIQUE KEY uq_coupon_codes_list_code (list_id, code)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);

    await queryRunner.query(`
      CREATE TABLE coupon_assignments (
        id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        list_id BIGINT UNSIGNED NOT NULL,
        campaign_id BIGINT UNSIGNED NOT NULL,
        code_seq BIGINT UNSIGNED NULL,
        code VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
        user_id VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
        external_id VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
        assigned_at DATETIME(3) NOT NULL,
        PRIMARY KEY (id),
        UNIQUE KEY uq_coupon_assignments_code (list_id, code_seq),
        KEY idx_coupon_assignments_user (user_id, assigned_at),
        KEY idx_coupon_assignments_list (list_id, assigned_at)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);

    await queryRunner.query(`
      CREATE TABLE claim_windows (
        campaign_id BIGINT UNSIGNED NOT NULL,
        user_id VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
        assignment_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        window_ends_at DATETIME(3) NOT NULL,
        PRIMARY KEY (campaign_id, user_id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of ['claim_windows', 'coupon_assignments', 'coupon_codes', 'campaign_lists', 'campaigns', 'coupon_lists', 'api_keys']) {
      await queryRunner.query(`DROP TABLE IF EXISTS ${table}`);
    }
  }
}
