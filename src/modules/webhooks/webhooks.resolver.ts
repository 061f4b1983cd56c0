import { Arg, Authorized, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { AppContext } from '../../app-context.js';
import type { GraphQLContext } from '../graphql-context.js';
import { Allow } from '../auth/api-key-role.js';
import { BatchLoader, requestLoader } from '../../common/request-loader.js';
import { WebhookDeliveryService } from './webhook-delivery.service.js';
import { WebhookEndpointService } from './webhook-endpoint.service.js';
import {
  CreatedWebhookEndpoint,
  UpdateWebhookEndpointInput,
  WebhookAttempt,
  WebhookDelivery,
  WebhookDeliveryPage,
  WebhookEndpoint,
  WebhookEndpointInput,
} from './webhook.types.js';

@Resolver(() => WebhookEndpoint)
export class WebhookEndpointResolver {
  private readonly webhookEndpointService: WebhookEndpointService;
  private readonly webhookDeliveryService: WebhookDeliveryService;

  constructor(app: AppContext) {
    this.webhookEndpointService = app.get(WebhookEndpointService);
    this.webhookDeliveryService = app.get(WebhookDeliveryService);
  }

  @Authorized(...Allow.READ_ALL)
  @Query(() => [WebhookEndpoint])
  webhookEndpoints(): Promise<WebhookEndpoint[]> {
    return this.webhookEndpointService.list();
  }

  @Authorized(...Allow.READ_ALL)
  @Query(() => WebhookDeliveryPage, { description: 'An endpoint\'s deliveries, newest first.' })
  webhookDeliveries(
    @Arg('endpointId', () => ID) endpointId: string,
    @Arg('first', () => Int, { defaultValue: 50 }) first: number,
    @Arg('after', () => String, { nullable: true }) after: string | null,
  ): Promise<WebhookDeliveryPage> {
    return this.webhookDeliveryService.page(endpointId, first, after);
  }

  @Authorized(...Allow.MANAGE)
  @Mutation(() => CreatedWebhookEndpoint, { description: 'The secret is shown only in this answer.' })
  createWebhookEndpoint(@Arg('input', () => WebhookEndpointInput) input: WebhookEndpointInput): Promise<CreatedWebhookEndpoint> {
    return this.webhookEndpointService.create(input);
  }

  @Authorized(...Allow.MANAGE)
  @Mutation(() => WebhookEndpoint)
  updateWebhookEndpoint(
    @Arg('id', () => ID) id: string,
    @Arg('input', () => UpdateWebhookEndpointInput) input: UpdateWebhookEndpointInput,
  ): Promise<WebhookEndpoint> {
    return this.webhookEndpointService.update(id, input);
  }

  @Authorized(...Allow.MANAGE)
  @Mutation(() => Boolean)
  deleteWebhookEndpoint(@Arg('id', () => ID) id: string): Promise<boolean> {
    return this.webhookEndpointService.delete(id);
  }

  @Authorized(...Allow.MANAGE)
  @Mutation(() => CreatedWebhookEndpoint, { description: 'A new secret, shown only here; the old one stops working at once, for retries too.' })
  rotateWebhookSecret(@Arg('id', () => ID) id: string): Promise<CreatedWebhookEndpoint> {
    return this.webhookEndpointService.rotateSecret(id);
  }

  @Authorized(...Allow.MANAGE)
  @Mutation(() => WebhookDelivery, { description: 'Sends the message again now, with the same webhook-id.' })
  redeliverWebhook(@Arg('deliveryId', () => ID) deliveryId: string): Promise<WebhookDelivery> {
    return this.webhookDeliveryService.redeliver(deliveryId);
  }
}

@Resolver(() => WebhookDelivery)
export class WebhookDeliveryResolver {
  private readonly webhookDeliveryService: WebhookDeliveryService;

  constructor(app: AppContext) {
    this.webhookDeliveryService = app.get(WebhookDeliveryService);
  }

  @Authorized(...Allow.READ_ALL)
  @FieldResolver(() => [WebhookAttempt], { description: 'Every attempt, oldest first.' })
  attemptLog(@Root() delivery: WebhookDelivery, @Ctx() context: GraphQLContext): Promise<WebhookAttempt[]> {
    return requestLoader(
      context,
      'webhook-attempts',
      () => new BatchLoader<string, WebhookAttempt[]>((ids) => this.webhookDeliveryService.attemptsOf(ids), () => []),
    ).load(delivery.id);
  }
}
