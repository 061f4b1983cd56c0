import { Column, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import { Field, ObjectType } from 'type-graphql';
import { TransactionalMessage } from './transactional-message.entity.js';

/** How a list's new assignments are sent. No row means both channels are off. */
@Entity('list_delivery_settings')
export class ListDeliverySettings {
  @PrimaryColumn({ name: 'list_id', type: 'bigint', unsigned: true })
  listId!: string;

  @Column({ name: 'sms_enabled', type: 'boolean', default: false })
  smsEnabled!: boolean;

  @Column({ name: 'push_enabled', type: 'boolean', default: false })
  pushEnabled!: boolean;

  @Column({ name: 'sms_message_id', type: 'bigint', unsigned: true, nullable: true })
  smsMessageId!: string | null;

  @Column({ name: 'push_message_id', type: 'bigint', unsigned: true, nullable: true })
  pushMessageId!: string | null;

  /** When SMS was last switched on: assignments made before are never sent by SMS. */
  @Column({ name: 'sms_enabled_at', type: 'datetime', precision: 3, nullable: true })
  smsEnabledAt!: Date | null;

  @Column({ name: 'push_enabled_at', type: 'datetime', precision: 3, nullable: true })
  pushEnabledAt!: Date | null;

  @UpdateDateColumn({ name: 'updated_at', type: 'datetime', precision: 3 })
  updatedAt!: Date;
}

/** CouponList.delivery: what a list sends on each channel. */
@ObjectType()
export class DeliverySettings {
  @Field()
  smsEnabled!: boolean;

  @Field()
  pushEnabled!: boolean;

  @Field(() => TransactionalMessage, { nullable: true })
  smsMessage!: TransactionalMessage | null;

  @Field(() => TransactionalMessage, { nullable: true })
  pushMessage!: TransactionalMessage | null;
}
