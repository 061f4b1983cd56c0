import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';

export enum DistributionStatus {
  QUEUED = 'QUEUED',
  RUNNING = 'RUNNING',
  /** Every user was handled. */
  COMPLETED = 'COMPLETED',
  /** Stopped early (stopReason): the campaign's lists ran out, expired or the campaign finished; the rest were not served. */
  STOPPED = 'STOPPED',
  /** Gave up after repeated unexpected errors (stopReason); users without an outcome were not served. */
  FAILED = 'FAILED',
}
registerEnumType(DistributionStatus, {
  name: 'DistributionStatus',
  description: 'COMPLETED: every user handled. STOPPED: the campaign could not serve any more (stopReason). FAILED: unexpected errors.',
});

/** A bulk distribution: one claim per user through an AUTOMATED campaign, run by a worker. */
@ObjectType()
@Entity('distribution_jobs')
export class DistributionJob {
  @Field(() => ID)
  @PrimaryGeneratedColumn({ type: 'bigint', unsigned: true })
  id!: string;

  @Field(() => ID)
  @Column({ name: 'campaign_id', type: 'bigint', unsigned: true })
  campaignId!: string;

  @Field(() => DistributionStatus)
  @Column({ type: 'varchar', length: 16 })
  status!: DistributionStatus;

  @Field(() => Int, { description: 'Distinct users named.' })
  @Column({ type: 'int' })
  total!: number;

  @Field(() => Int, { description: 'Users handled so far (assigned + reused + failed + notServed).' })
  @Column({ type: 'int', default: 0 })
  processed!: number;

  @Field(() => Int, { description: 'Users who got a new code.' })
  @Column({ type: 'int', default: 0 })
  assigned!: number;

  @Field(() => Int, { description: 'Users the claim window handed their earlier code back (nothing sent).' })
  @Column({ type: 'int', default: 0 })
  reused!: number;

  @Field(() => Int, { description: 'Users whose claim failed for another reason.' })
  @Column({ type: 'int', default: 0 })
  failed!: number;

  @Field(() => Int, { description: 'Users left without a code because the distribution stopped.' })
  @Column({ name: 'not_served', type: 'int', default: 0 })
  notServed!: number;

  @Field(() => String, { nullable: true, description: 'Why the distribution stopped early, e.g. the list ran out.' })
  @Column({ name: 'stop_reason', type: 'varchar', length: 500, nullable: true })
  stopReason!: string | null;

  @Field(() => Date)
  @CreateDateColumn({ name: 'created_at', type: 'datetime', precision: 3 })
  createdAt!: Date;

  @Field(() => Date, { nullable: true })
  @Column({ name: 'started_at', type: 'datetime', precision: 3, nullable: true })
  startedAt!: Date | null;

  @Field(() => Date, { nullable: true })
  @Column({ name: 'completed_at', type: 'datetime', precision: 3, nullable: true })
  completedAt!: Date | null;

  @Field(() => Date)
  @UpdateDateColumn({ name: 'updated_at', type: 'datetime', precision: 3 })
  updatedAt!: Date;
}
