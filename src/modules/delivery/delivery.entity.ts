import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import { Field, Int, ObjectType } from 'type-graphql';
import { DeliveryChannel } from './transactional-message.entity.js';

export enum DeliveryStatus {
  PENDING = 'PENDING',
  SENT = 'SENT',
  FAILED = 'FAILED',
}

/** The send of one assignment on one channel. SENT and FAILED are final. */
@ObjectType()
@Entity('deliveries')
export class Delivery {
  @PrimaryColumn({ name: 'assignment_id', type: 'char', length: 36 })
  assignmentId!: string;

  @Field(() => DeliveryChannel)
  @PrimaryColumn({ type: 'enum', enum: DeliveryChannel })
  channel!: DeliveryChannel;

  @Field(() => String, { description: 'PENDING (queued or being retried), SENT or FAILED (final; see error).' })
  @Column({ type: 'varchar', length: 16 })
  status!: DeliveryStatus;

  @Field(() => Int, { description: 'Sends tried so far.' })
  @Column({ type: 'int', default: 0 })
  attempts!: number;

  @Field(() => Date, { nullable: true, description: 'When the gateway accepted the message.' })
  @Column({ name: 'sent_at', type: 'datetime', precision: 3, nullable: true })
  sentAt!: Date | null;

  @Field(() => String, { nullable: true, description: 'Why the last attempt failed.' })
  @Column({ type: 'text', nullable: true })
  error!: string | null;

  @Field(() => Date)
  @CreateDateColumn({ name: 'created_at', type: 'datetime', precision: 3 })
  createdAt!: Date;

  @Field(() => Date, { description: 'When the status or attempts last changed.' })
  @UpdateDateColumn({ name: 'updated_at', type: 'datetime', precision: 3 })
  updatedAt!: Date;
}
