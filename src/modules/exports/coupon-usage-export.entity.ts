import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';

export enum ExportStatus {
  QUEUED = 'QUEUED',
  PROCESSING = 'PROCESSING',
  COMPLETED = 'COMPLETED',
  FAILED = 'FAILED',
}
registerEnumType(ExportStatus, {
  name: 'ExportStatus',
  description: 'QUEUED: waiting for a worker. PROCESSING: being written. COMPLETED: rowCount is final. FAILED: see failureReason.',
});

/**
 * One requested usage export of a list: a CSV file written by a worker from one consistent
 * snapshot of the list's assignments. The file is kept until fileExpiresAt, then removed
 * (the row stays, COMPLETED, with downloadUrl null).
 */
@ObjectType({ description: 'A CSV export of the assignments of one coupon list.' })
@Entity('coupon_usage_exports')
export class CouponUsageExport {
  @Field(() => ID)
  @PrimaryGeneratedColumn({ type: 'bigint', unsigned: true })
  id!: string;

  @Field(() => ID)
  @Column({ name: 'list_id', type: 'bigint', unsigned: true })
  listId!: string;

  @Field(() => ID, { nullable: true, description: 'Only assignments made through this campaign, when set.' })
  @Column({ name: 'campaign_id', type: 'bigint', unsigned: true, nullable: true })
  campaignId!: string | null;

  @Field(() => Date, { name: 'from', nullable: true, description: 'Only assignments made at or after this moment, when set.' })
  @Column({ name: 'assigned_from', type: 'datetime', precision: 3, nullable: true })
  assignedFrom!: Date | null;

  @Field(() => Date, { name: 'to', nullable: true, description: 'Only assignments made before this moment, when set.' })
  @Column({ name: 'assigned_to', type: 'datetime', precision: 3, nullable: true })
  assignedTo!: Date | null;

  @Field(() => ExportStatus)
  @Column({ type: 'enum', enum: ExportStatus, default: ExportStatus.QUEUED })
  status!: ExportStatus;

  @Field(() => Int, { nullable: true, description: 'Data rows in the file (the header not counted); set when COMPLETED.' })
  @Column({ name: 'row_count', type: 'int', unsigned: true, nullable: true })
  rowCount!: number | null;

  /** Where the file is in the export storage; null until COMPLETED and after the file is removed. */
  @Column({ name: 'file_key', type: 'varchar', length: 200, nullable: true })
  fileKey!: string | null;

  @Column({ name: 'file_bytes', type: 'bigint', unsigned: true, nullable: true })
  fileBytes!: string | null;

  @Field(() => String, { nullable: true, description: 'Why the export FAILED.' })
  @Column({ name: 'failure_reason', type: 'varchar', length: 500, nullable: true })
  failureReason!: string | null;

  /** The API key that asked for the export ("bootstrap" for ADMIN_API_KEY). */
  @Column({ name: 'requested_by', type: 'varchar', length: 40, nullable: true })
  requestedBy!: string | null;

  @Field(() => Date)
  @Column({ name: 'created_at', type: 'datetime', precision: 3 })
  createdAt!: Date;

  @Column({ name: 'started_at', type: 'datetime', precision: 3, nullable: true })
  startedAt!: Date | null;

  @Field(() => Date, { nullable: true, description: 'The moment the file reflects: assignments committed later are not in it.' })
  @Column({ name: 'snapshot_at', type: 'datetime', precision: 3, nullable: true })
  snapshotAt!: Date | null;

  @Field(() => Date, { nullable: true })
  @Column({ name: 'completed_at', type: 'datetime', precision: 3, nullable: true })
  completedAt!: Date | null;

  @Field(() => Date, { nullable: true, description: 'When the file is (or was) removed; downloadUrl is null from then on.' })
  @Column({ name: 'file_expires_at', type: 'datetime', precision: 3, nullable: true })
  fileExpiresAt!: Date | null;

  @Column({ name: 'file_removed_at', type: 'datetime', precision: 3, nullable: true })
  fileRemovedAt!: Date | null;
}
