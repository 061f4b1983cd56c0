import { Arg, Authorized, Ctx, ID, Mutation, Query, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../../infra/graphql/context.js';
import { Allow } from '../auth/api-key-role.js';
import { CouponList } from '../lists/coupon-list.entity.js';
import { CreateTransactionalMessageInput, DeliverySettingsInput, UpdateTransactionalMessageInput, UserProfileInput } from './delivery.inputs.js';
import { DistributionJob } from './distribution-job.entity.js';
import { DistributionService } from './distribution.service.js';
import { ListDeliveryService } from './list-delivery.service.js';
import { DeliveryChannel, TransactionalMessage } from './transactional-message.entity.js';
import { TransactionalMessageService } from './transactional-message.service.js';
import { UserProfile } from './user-profile.entity.js';
import { UserProfileService } from './user-profile.service.js';

@Resolver()
export class DeliveryResolver {
  @Authorized(...Allow.READ_ALL)
  @Query(() => [TransactionalMessage], { description: 'Transactional messages, newest first; all channels unless one is named.' })
  transactionalMessages(
    @Arg('channel', () => DeliveryChannel, { nullable: true }) channel: DeliveryChannel | null,
    @Ctx() { app }: GraphQLContext,
  ): Promise<TransactionalMessage[]> {
    return app.get(TransactionalMessageService).list(channel);
  }

  @Authorized(...Allow.READ_ALL)
  @Query(() => TransactionalMessage, { nullable: true })
  transactionalMessage(@Arg('id', () => ID) id: string, @Ctx() { app }: GraphQLContext): Promise<TransactionalMessage | null> {
    return app.get(TransactionalMessageService).findById(id);
  }

  @Authorized(...Allow.MANAGE)
  @Mutation(() => TransactionalMessage)
  createTransactionalMessage(
    @Arg('input', () => CreateTransactionalMessageInput) input: CreateTransactionalMessageInput,
    @Ctx() { app }: GraphQLContext,
  ): Promise<TransactionalMessage> {
    return app.get(TransactionalMessageService).create(input);
  }

  @Authorized(...Allow.MANAGE)
  @Mutation(() => TransactionalMessage, { description: 'Edits name, body or active; a message a list sends with cannot be deactivated.' })
  updateTransactionalMessage(
    @Arg('id', () => ID) id: string,
    @Arg('input', () => UpdateTransactionalMessageInput) input: UpdateTransactionalMessageInput,
    @Ctx() { app }: GraphQLContext,
  ): Promise<TransactionalMessage> {
    return app.get(TransactionalMessageService).update(id, input);
  }

  @Authorized(...Allow.MANAGE)
  @Mutation(() => CouponList, { description: "Chooses the list's SMS and push messages and switches the channels on or off." })
  setListDelivery(
    @Arg('listId', () => ID) listId: string,
    @Arg('input', () => DeliverySettingsInput) input: DeliverySettingsInput,
    @Ctx() { app }: GraphQLContext,
  ): Promise<CouponList> {
    return app.get(ListDeliveryService).set(listId, input);
  }

  @Authorized(...Allow.MANAGE)
  @Mutation(() => UserProfile, { description: 'Creates the profile or changes the fields given.' })
  upsertUserProfile(@Arg('input', () => UserProfileInput) input: UserProfileInput, @Ctx() { app }: GraphQLContext): Promise<UserProfile> {
    return app.get(UserProfileService).upsert(input);
  }

  @Authorized(...Allow.READ_ALL)
  @Query(() => UserProfile, { nullable: true })
  userProfile(@Arg('userId', () => String) userId: string, @Ctx() { app }: GraphQLContext): Promise<UserProfile | null> {
    return app.get(UserProfileService).find(userId);
  }

  @Authorized(...Allow.MANAGE)
  @Mutation(() => DistributionJob, {
    description: 'AUTOMATED campaigns: claims a code for each user (at most 10,000 per call) and sends it on the enabled channels, as a background job.',
  })
  distributeCoupons(
    @Arg('campaignId', () => ID) campaignId: string,
    @Arg('userIds', () => [String]) userIds: string[],
    @Ctx() { app }: GraphQLContext,
  ): Promise<DistributionJob> {
    return app.get(DistributionService).start(campaignId, userIds);
  }

  @Authorized(...Allow.READ_ALL)
  @Query(() => DistributionJob, { nullable: true })
  distributionJob(@Arg('id', () => ID) id: string, @Ctx() { app }: GraphQLContext): Promise<DistributionJob | null> {
    return app.get(DistributionService).find(id);
  }
}
