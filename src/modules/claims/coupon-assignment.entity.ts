import { Column, Entity, PrimaryColumn } from 'typeorm';
import { Field, ID, ObjectType } from 'type-graphql';

/**
 * One code handed to one user from one list in one campaign. Never deleted: it is the user's
 * coupon history and the source of usage exports. Ids are UUIDv7 (time-ordered, made by the
 * claim engine so that a batch of claims is inserted in one statement).
 */
@ObjectType()
@Entity('coupon_assignments')
export class CouponAssignment {
  @Field(() => ID)
  @PrimaryColumn({ type: 'char', length: 36 })
  id!: string;

  @Field()
  @Column({ type: 'varchar', length: 64 })
  code!: string;

  @Field(() => ID)
  @Column({ name: 'list_id', type: 'bigint', unsigned: true })
  listId!: string;

  @Field(() => ID)
  @Column({ name: 'campaign_id', type: 'bigint', unsigned: true })
  campaignId!: string;

  /** UNIQUE lists: the seq of the code row handed out; null for FIXED lists. */
  @Column({ name: 'code_seq', type: 'bigint', unsigned: true, nullable: true })
  codeSeq!: string | null;

  @Field()
  @Column({ name: 'user_id', type: 'varchar', length: 191 })
  userId!: string;

  @Field(() => String, { nullable: true })
  @Column({ name: 'external_id', type: 'varchar', length: 191, nullable: true })
  externalId!: string | null;

  @Field(() => Date)
  @Column({ name: 'assigned_at', type: 'datetime', precision: 3 })
  assignedAt!: Date;

  /** The list's expiry (read with the assignment). */
  @Field(() => Date, { nullable: true })
  expiresAt!: Date | null;

  @Field({ description: 'true when the claim window handed back this earlier code.' })
  reused!: boolean;
}
