import { Field, ID, InputType } from 'type-graphql';
import { DeliveryChannel } from './transactional-message.entity.js';

@InputType()
export class CreateTransactionalMessageInput {
  @Field(() => DeliveryChannel)
  channel!: DeliveryChannel;

  @Field()
  name!: string;

  @Field({ description: 'The text; {couponcode} and {expirydate} are filled in per assignment.' })
  body!: string;

  @Field(() => Boolean, { nullable: true, defaultValue: true })
  active?: boolean | null;
}

@InputType()
export class UpdateTransactionalMessageInput {
  @Field(() => String, { nullable: true })
  name?: string | null;

  @Field(() => String, { nullable: true })
  body?: string | null;

  @Field(() => Boolean, { nullable: true, description: 'A message used by a list with its channel enabled cannot be deactivated.' })
  active?: boolean | null;
}

@InputType({ description: 'Fields left out keep their value; a message id of null removes the message (its channel must then be off).' })
export class DeliverySettingsInput {
  @Field(() => ID, { nullable: true })
  smsMessageId?: string | null;

  @Field(() => ID, { nullable: true })
  pushMessageId?: string | null;

  @Field(() => Boolean, { nullable: true })
  smsEnabled?: boolean | null;

  @Field(() => Boolean, { nullable: true })
  pushEnabled?: boolean | null;
}

@InputType({ description: 'Fields left out keep their value; null removes it.' })
export class UserProfileInput {
  @Field()
  userId!: string;

  @Field(() => String, { nullable: true })
  externalId?: string | null;

  @Field(() => String, { nullable: true, description: 'Where SMS is sent, e.g. +4915112345678.' })
  phoneNumber?: string | null;

  @Field(() => String, { nullable: true, description: 'Where push notifications are sent.' })
  pushToken?: string | null;
}
