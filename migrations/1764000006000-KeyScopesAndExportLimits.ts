import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * API key campaign scopes (a JSON array of campaign ids; NULL or [] = every campaign), and the
 * index that the per-key limit on running exports locks its range on.
 */
export class KeyScopesAndExportLimits1764000006000 implements MigrationInterface {
  name = 'KeyScopesAndExportLimits1764000006000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('ALTER TABLE api_keys ADD COLUMN campaign_ids TEXT NULL');
    await queryRunner.query('ALTER TABLE coupon_usage_exports ADD KEY idx_coupon_usage_exports_requester (requested_by, status)');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('ALTER TABLE coupon_usage_exports DROP KEY idx_coupon_usage_exports_requester');
    await queryRunner.query('ALTER TABLE api_keys DROP COLUMN campaign_ids');
  }
}
