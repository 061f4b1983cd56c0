import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * SMS and push delivery: transactional messages, per-list delivery settings, user profiles,
 * one row per (assignment, channel) send with its attempts, and bulk distribution jobs.
 * User ids are compared byte for byte (utf8mb4_bin), as in coupon_assignments.
 */
export class CreateDeliveryTables1764000005000 implements MigrationInterface {
  name = 'CreateDeliveryTables1764000005000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE transactional_messages (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
        channel ENUM('SMS','PUSH') NOT NULL,
        name VARCHAR(200) NOT NULL,
        body TEXT NOT NULL,
        active TINYINT(1) NOT NULL DEFAULT 1,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
        PRIMARY KEY (id),
        KEY idx_transactional_messages_channel (channel, active)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);

    // A row per list that has ever had delivery configured; no row = both channels off.
    // *_enabled_at bounds the recovery sweep: assignments made before a channel was switched on
    // are never sent on it.
    await queryRunner.query(`
      CREATE TABLE list_delivery_settings (
        list_id BIGINT UNSIGNED NOT NULL,
        sms_enabled TINYINT(1) NOT NULL DEFAULT 0,
        push_enabled TINYINT(1) NOT NULL DEFAULT 0,
        sms_message_id BIGINT UNSIGNED NULL,
        push_message_id BIGINT UNSIGNED NULL,
        sms_enabled_at DATETIME(3) NULL,
        push_enabled_at DATETIME(3) NULL,
        updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
        PRIMARY KEY (list_id),
        KEY idx_list_delivery_settings_sms_message (sms_message_id),
        KEY idx_list_delivery_settings_push_message (push_message_id),
        CONSTRAINT fk_list_delivery_settings_list FOREIGN KEY (list_id) REFERENCES coupon_lists (id) ON DELETE CASCADE,
        CONSTRAINT fk_list_delivery_settings_sms FOREIGN KEY (sms_message_id) REFERENCES transactional_messages (id),
        CONSTRAINT fk_list_delivery_settings_push FOREIGN KEY (push_message_id) REFERENCES transactional_messages (id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);

    // last_assignment_id orders attribute writes: UUIDv7 ids grow with time, so an older
    // assignment processed late never overwrites a newer code.
    await queryRunner.query(`
      CREATE TABLE user_profiles (
        user_id VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
        external_id VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
        phone_number VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NULL,
        push_token VARCHAR(1024) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
        attributes JSON NOT NULL,
        last_assignment_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NULL,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
        PRIMARY KEY (user_id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);

    await queryRunner.query(`
      CREATE TABLE deliveries (
        assignment_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        channel ENUM('SMS','PUSH') NOT NULL,
        status VARCHAR(16) NOT NULL,
        attempts INT NOT NULL DEFAULT 0,
        sent_at DATETIME(3) NULL,
        error TEXT NULL,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
        PRIMARY KEY (assignment_id, channel),
        KEY idx_deliveries_status (status, updated_at)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);

    await queryRunner.query(`
      CREATE TABLE delivery_attempts (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
        assignment_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        channel ENUM('SMS','PUSH') NOT NULL,
        attempt INT NOT NULL,
        outcome VARCHAR(16) NOT NULL,
        http_status INT NULL,
        error TEXT NULL,
        at DATETIME(3) NOT NULL,
        PRIMARY KEY (id),
        KEY idx_delivery_attempts_assignment (assignment_id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);

    await queryRunner.query(`
      CREATE TABLE distribution_jobs (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
        campaign_id BIGINT UNSIGNED NOT NULL,
        status VARCHAR(16) NOT NULL,
        total INT NOT NULL,
        processed INT NOT NULL DEFAULT 0,
        assigned INT NOT NULL DEFAULT 0,
        reused INT NOT NULL DEFAULT 0,
        failed INT NOT NULL DEFAULT 0,
        not_served INT NOT NULL DEFAULT 0,
        stop_reason VARCHAR(500) NULL,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        started_at DATETIME(3) NULL,
        completed_at DATETIME(3) NULL,
        updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
        PRIMARY KEY (id),
        KEY idx_distribution_jobs_campaign (campaign_id),
        KEY idx_distribution_jobs_status (status, updated_at)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);

    // The users of a distribution travel from the API to the worker here, and each one's outcome
    // is written once it is known: a resumed job continues with the rows still without outcome.
    await queryRunner.query(`
      CREATE TABLE distribution_job_users (
        job_id BIGINT UNSIGNED NOT NULL,
        position INT NOT NULL,
        user_id VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
        outcome VARCHAR(16) NULL,
        assignment_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NULL,
        error VARCHAR(500) NULL,
        PRIMARY KEY (job_id, position),
        CONSTRAINT fk_distribution_job_users_job FOREIGN KEY (job_id) REFERENCES distribution_jobs (id) ON DELETE CASCADE
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of [
      'distribution_job_users',
      'distribution_jobs',
      'delivery_attempts',
      'deliveries',
      'user_profiles',
      'list_delivery_settings',
      'transactional_messages',
    ]) {
      await queryRunner.query(`DROP TABLE IF EXISTS ${table}`);
    }
  }
}
