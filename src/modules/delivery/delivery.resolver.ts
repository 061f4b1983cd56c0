import { Arg, Authorized, ID, Mutation, Query, Resolver } from 'type-graphql';
import type { AppContext } from '../../app-context.js';
import { Allow } from '../auth/api-key-role.js';
import { CouponList } from '../lists/coupon-list.entity.js';
import { CreateTransactionalMessageInput, DeliverySettingsInput, UpdateTransactionalMessageInput, UserProfileInput } from './delivery.inputs.js';
import { DeliveryServices } from './delivery-services.js';
import { DeliveryChannel, TransactionalMessage } from './transactional-message.entity.js';
import { UserProfile } from './user-profile.entity.js';

@Resolver()
export class DeliveryResolver {
  private readonly deliveryServices: DeliveryServices;

  constructor(app: AppContext) {
    this.deliveryServices = app.get(DeliveryServices);
  }

  @Authorized(...Allow.READ_ALL)
  @Query(() => [TransactionalMessage], { description: 'Transactional messages, newest first; all channels unless one is named.' })
  transactionalMessages(
    @Arg('channel', () => DeliveryChannel, { nullable: true }) channel: DeliveryChannel | null,
  ): Promise<TransactionalMessage[]> {
    return this.deliveryServices.messages.list(channel);
  }

  @Authorized(...Allow.READ_ALL)
  @Query(() => TransactionalMessage, { nullable: true })
  transactionalMessage(@Arg('id', () => ID) id: string): Promise<TransactionalMessage | null> {
    return this.deliveryServices.messages.findById(id);
  }

  @Authorized(...Allow.MANAGE)
  @Mutation(() => TransactionalMessage)
  createTransactionalMessage(
    @Arg('input', () => CreateTransactionalMessageInput) input: CreateTransactionalMessageInput,
  ): Promise<TransactionalMessage> {
    return this.deliveryServices.messages.create(input);
  }

  @Authorized(...Allow.MANAGE)
  @Mutation(() => TransactionalMessage, { description: 'Edits name, body or active; a message a list sends with cannot be deactivated.' })
  updateTransactionalMessage(
    @Arg('id', () => ID) id: string,
    @Arg('input', () => UpdateTransactionalMessageInput) input: UpdateTransactionalMessageInput,
  ): Promise<TransactionalMessage> {
    return this.deliveryServices.messages.update(id, input);
  }

  @Authorized(...Allow.MANAGE)
  @Mutation(() => CouponList, { description: "Chooses the list's SMS and push messages and switches the channels on or off." })
  setListDelivery(
    @Arg('listId', () => ID) listId: string,
    @Arg('input', () => DeliverySettingsInput) input: DeliverySettingsInput,
  ): Promise<CouponList> {
    return this.deliveryServices.listDelivery.set(listId, input);
  }

  @Authorized(...Allow.MANAGE)
  @Mutation(() => UserProfile, { description: 'Creates the profile or changes the fields given.' })
  upsertUserProfile(@Arg('input', () => UserProfileInput) input: UserProfileInput): Promise<UserProfile> {
    return this.deliveryServices.profiles.upsert(input);
  }

  @Authorized(...Allow.READ_ALL)
  @Query(() => UserProfile, { nullable: true })
  userProfile(@Arg('userId', () => String) userId: string): Promise<UserProfile | null> {
    return this.deliveryServices.profiles.find(userId);
  }
}
