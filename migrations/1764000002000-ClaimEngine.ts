import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The claim engine's own table: every time the claim window hands an earlier assignment back,
 * one row records it (written in the claim transaction, read by the coupon history).
 */
export class ClaimEngine1764000002000 implements MigrationInterface {
  name = 'ClaimEngine1764000002000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE assignment_reuses (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
        assignment_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        reused_at DATETIME(3) NOT NULL,
        PRIMARY KEY (id),
        KEY idx_assignment_reuses_assignment (assignment_id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE IF EXISTS assignment_reuses');
  }
}
