import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Webhook deliveries:
 * - a sender takes an endpoint's due deliveries with one UPDATE (no transaction): it moves their
 *   next_attempt_at past the attempt's timeout and marks them with its lease token, then reads
 *   exactly those rows back by (endpoint, status, next_attempt_at, token);
 * - the retention sweep finds a message's deliveries by message_row_id (a key that never changes),
 *   while (status, next_attempt_at), rewritten on every lease and attempt, goes: the sweep finds
 *   due endpoints through (endpoint_id, status, next_attempt_at).
 */
export class WebhookLeaseToken1764000012000 implements MigrationInterface {
  name = 'WebhookLeaseToken1764000012000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE webhook_deliveries
      ADD COLUMN lease_token CHAR(16) CHARACTER SET ascii COLLATE ascii_bin NULL,
      ADD KEY idx_webhook_deliveries_message (message_row_id),
      DROP KEY idx_webhook_deliveries_due`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE webhook_deliveries
      ADD KEY idx_webhook_deliveries_due (status, next_attempt_at),
      DROP KEY idx_webhook_deliveries_message,
      DROP COLUMN lease_token`);
  }
}
