import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Redemptions (a shop marks an assigned code used, or undoes that) and webhooks: endpoints, the
 * outbox of messages written in the same transaction as the change they describe, one delivery
 * row per message and endpoint, and every attempt.
 */
export class RedemptionsAndWebhooks1764000007000 implements MigrationInterface {
  name = 'RedemptionsAndWebhooks1764000007000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // Exact count of live redemptions, kept by the writers (a page of lists never counts rows).
    await queryRunner.query('ALTER TABLE coupon_lists ADD COLUMN redeemed_codes INT NOT NULL DEFAULT 0');
    // couponCode(code) without a list id finds FIXED lists by their code.
    await queryRunner.query('ALTER TABLE coupon_lists ADD KEY idx_coupon_lists_fixed_code (fixed_code)');
    // couponCode(code) without a list id finds UNIQUE codes in any list (the existing unique key leads with list_id).
    await queryRunner.query('ALTER TABLE coupon_codes ADD KEY idx_coupon_codes_code (code)');
    // `live` is 1 while the redemption stands and NULL once undone: the unique key allows one
    // live redemption per code and user in a list (NULLs never collide), so two simultaneous
    // redemptions cannot both commit, whatever process runs them.
    await queryRunner.query(`
      CREATE TABLE coupon_redemptions (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
        assignment_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        list_id BIGINT UNSIGNED NOT NULL,
        campaign_id BIGINT UNSIGNED NOT NULL,
        code VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
        user_id VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
        order_id VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
        redeemed_at DATETIME(3) NOT NULL,
        undone_at DATETIME(3) NULL,
        live TINYINT(1) NULL DEFAULT 1,
        requested_by VARCHAR(40) NULL,
        PRIMARY KEY (id),
        UNIQUE KEY uq_coupon_redemptions_live (list_id, code, user_id, live),
        KEY idx_coupon_redemptions_assignment (assignment_id, live)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);
    await queryRunner.query(`
      CREATE TABLE webhook_endpoints (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
        url VARCHAR(2000) NOT NULL,
        events JSON NOT NULL,
        description VARCHAR(500) NULL,
        alert_emails JSON NOT NULL,
        secret VARCHAR(100) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        enabled TINYINT(1) NOT NULL DEFAULT 1,
        disabled_reason VARCHAR(1000) NULL,
        failing_since DATETIME(3) NULL,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
        PRIMARY KEY (id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
    // The outbox: one row per message, written inside the transaction of the change. A row with
    // dispatched = 0 still needs its delivery rows; the dispatcher (and the sweep) create them.
    await queryRunner.query(`
      CREATE TABLE webhook_messages (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
        message_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        event_type VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        payload JSON NOT NULL,
        occurred_at DATETIME(3) NOT NULL,
        dispatched TINYINT(1) NOT NULL DEFAULT 0,
        PRIMARY KEY (id),
        UNIQUE KEY uq_webhook_messages_message (message_id),
        KEY idx_webhook_messages_dispatched (dispatched, id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);
    // next_attempt_at is also the lease: a worker that takes a delivery moves it past the
    // attempt's timeout, so a worker killed mid-send leaves it due again soon after.
    await queryRunner.query(`
      CREATE TABLE webhook_deliveries (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
        endpoint_id BIGINT UNSIGNED NOT NULL,
        message_row_id BIGINT UNSIGNED NOT NULL,
        status ENUM('PENDING','DELIVERED','FAILED') NOT NULL DEFAULT 'PENDING',
        attempts INT NOT NULL DEFAULT 0,
        last_status_code INT NULL,
        last_error VARCHAR(1000) NULL,
        next_attempt_at DATETIME(3) NULL,
        created_at DATETIME(3) NOT NULL,
        delivered_at DATETIME(3) NULL,
        PRIMARY KEY (id),
        UNIQUE KEY uq_webhook_deliveries_message (endpoint_id, message_row_id),
        KEY idx_webhook_deliveries_due (status, next_attempt_at),
        KEY idx_webhook_deliveries_endpoint_due (endpoint_id, status, next_attempt_at),
        KEY idx_webhook_deliveries_endpoint (endpoint_id, id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
    await queryRunner.query(`
      CREATE TABLE webhook_attempts (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
        delivery_id BIGINT UNSIGNED NOT NULL,
        attempt INT NOT NULL,
        status_code INT NULL,
        error VARCHAR(1000) NULL,
        duration_ms INT NOT NULL,
        at DATETIME(3) NOT NULL,
        PRIMARY KEY (id),
        KEY idx_webhook_attempts_delivery (delivery_id, id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of ['webhook_attempts', 'webhook_deliveries', 'webhook_messages', 'webhook_endpoints', 'coupon_redemptions']) {
      await queryRunner.query(`DROP TABLE IF EXISTS ${table}`);
    }
    await queryRunner.query('ALTER TABLE coupon_codes DROP KEY idx_coupon_codes_code');
    await queryRunner.query('ALTER TABLE coupon_lists DROP KEY idx_coupon_lists_fixed_code, DROP COLUMN redeemed_codes');
  }
}
