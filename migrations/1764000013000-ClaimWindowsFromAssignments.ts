import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A user's claim window is read from the user's assignments of the campaign (KEY (user_id,
 * assigned_at)): the assignment made is the window, so a claim writes one row per new code
 * instead of two (one fewer row to replicate to every Galera node). The window table goes.
 */
export class ClaimWindowsFromAssignments1764000013000 implements MigrationInterface {
  name = 'ClaimWindowsFromAssignments1764000013000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE IF EXISTS claim_windows');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE claim_windows (
        campaign_id BIGINT UNSIGNED NOT NULL,
        user_id VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
        assignment_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        window_ends_at DATETIME(3) NOT NULL,
        PRIMARY KEY (campaign_id, user_id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);
  }
}
