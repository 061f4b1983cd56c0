import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A webhook sender takes an endpoint's due deliveries with one UPDATE (no transaction): it moves
 * their next_attempt_at past the attempt's timeout and marks them with its lease token, then
 * reads exactly those rows back by (endpoint, status, next_attempt_at, token).
 */
export class WebhookLeaseToken1764000012000 implements MigrationInterface {
  name = 'WebhookLeaseToken1764000012000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('ALTER TABLE webhook_deliveries ADD COLUMN lease_token CHAR(16) CHARACTER SET ascii COLLATE ascii_bin NULL');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('ALTER TABLE webhook_deliveries DROP COLUMN lease_token');
  }
}
