import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * State of the low-stock alert and of timed expiry, kept on the list row so that conditional
 * UPDATEs on it decide, once for all processes, who raises an alert and which expiry is done.
 *
 * - low_stock_alerted: 1 from the moment an alert was raised until the list rises above its
 *   warning limit again (the alert is "armed" while 0).
 * - low_stock_alerts: how many alerts the list has raised; numbers each crossing, so the e-mail
 *   jobs of one crossing have stable ids.
 * - expiry_processed_at: the expires_at value whose expiry was carried out (campaigns finished,
 *   events published); an expired list whose expires_at differs still needs it.
 */
export class LiveUpdatesAlertsExpiry1764000003000 implements MigrationInterface {
  name = 'LiveUpdatesAlertsExpiry1764000003000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      ALTER TABLE coupon_lists
        ADD COLUMN low_stock_alerted TINYINT(1) NOT NULL DEFAULT 0,
        ADD COLUMN low_stock_alerts INT UNSIGNED NOT NULL DEFAULT 0,
        ADD COLUMN expiry_processed_at DATETIME(3) NULL`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      ALTER TABLE coupon_lists
        DROP COLUMN low_stock_alerted,
        DROP COLUMN low_stock_alerts,
        DROP COLUMN expiry_processed_at`);
  }
}
