import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import { Field, ObjectType } from 'type-graphql';
import { GraphQLJSON } from 'graphql-scalars';

/**
 * What delivery knows about a user: where to send (phone number, push token) and attributes.
 * The attributes `couponcode` and `expirydate` hold the user's newest assignment.
 */
@ObjectType()
@Entity('user_profiles')
export class UserProfile {
  @Field()
  @PrimaryColumn({ name: 'user_id', type: 'varchar', length: 191 })
  userId!: string;

  @Field(() => String, { nullable: true })
  @Column({ name: 'external_id', type: 'varchar', length: 191, nullable: true })
  externalId!: string | null;

  @Field(() => String, { nullable: true, description: 'Where SMS is sent.' })
  @Column({ name: 'phone_number', type: 'varchar', length: 32, nullable: true })
  phoneNumber!: string | null;

  @Field(() => String, { nullable: true, description: 'Where push notifications are sent.' })
  @Column({ name: 'push_token', type: 'varchar', length: 1024, nullable: true })
  pushToken!: string | null;

  @Field(() => GraphQLJSON, { description: 'couponcode and expirydate: the newest coupon handed to the user, as filled into messages.' })
  @Column({ type: 'json' })
  attributes!: Record<string, unknown>;

  /** The assignment the attributes were last set from (UUIDv7: later ids are newer). */
  @Column({ name: 'last_assignment_id', type: 'char', length: 36, nullable: true })
  lastAssignmentId!: string | null;

  @Field(() => Date)
  @CreateDateColumn({ name: 'created_at', type: 'datetime', precision: 3 })
  createdAt!: Date;

  @Field(() => Date)
  @UpdateDateColumn({ name: 'updated_at', type: 'datetime', precision: 3 })
  updatedAt!: Date;
}
