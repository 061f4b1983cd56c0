import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';

export enum DeliveryChannel {
  SMS = 'SMS',
  PUSH = 'PUSH',
}
registerEnumType(DeliveryChannel, { name: 'DeliveryChannel', description: 'SMS goes to the profile phone number, PUSH to its push token.' });

/**
 * A predefined message of one channel. `{couponcode}` and `{expirydate}` in the body are filled
 * per assignment when it is sent.
 */
@ObjectType()
@Entity('transactional_messages')
export class TransactionalMessage {
  @Field(() => ID)
  @PrimaryGeneratedColumn({ type: 'bigint', unsigned: true })
  id!: string;

  @Field(() => DeliveryChannel)
  @Column({ type: 'enum', enum: DeliveryChannel })
  channel!: DeliveryChannel;

  @Field()
  @Column({ type: 'varchar', length: 200 })
  name!: string;

  @Field({ description: 'The text sent; {couponcode} and {expirydate} are filled in.' })
  @Column({ type: 'text' })
  body!: string;

  @Field({ description: 'Only an active message can be used by a list with its channel enabled.' })
  @Column({ type: 'boolean', default: true })
  active!: boolean;

  @Field(() => Date)
  @CreateDateColumn({ name: 'created_at', type: 'datetime', precision: 3 })
  createdAt!: Date;

  @Field(() => Date)
  @UpdateDateColumn({ name: 'updated_at', type: 'datetime', precision: 3 })
  updatedAt!: Date;
}
