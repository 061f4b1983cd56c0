import { Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { WebhookEvent } from './webhook-event.js';

export enum WebhookDeliveryStatus {
  PENDING = 'PENDING',
  DELIVERED = 'DELIVERED',
  FAILED = 'FAILED',
}
registerEnumType(WebhookDeliveryStatus, {
  name: 'WebhookDeliveryStatus',
  description: 'PENDING: not delivered yet (being sent or waiting for a retry). DELIVERED: a 2xx answer. FAILED: retries used up, or the endpoint was disabled or deleted.',
});

@ObjectType({ description: 'Where webhook messages are POSTed, and which events it receives.' })
export class WebhookEndpoint {
  @Field(() => ID) id!: string;
  @Field() url!: string;
  @Field(() => [WebhookEvent]) events!: WebhookEvent[];
  @Field(() => String, { nullable: true }) description!: string | null;
  @Field(() => [String], { description: 'Who is e-mailed when the endpoint is disabled for failing (ALERT_FROM / SMTP_URL).' }) alertEmails!: string[];
  @Field() enabled!: boolean;
  @Field(() => String, { nullable: true, description: 'Why the service disabled it (set only while disabled).' }) disabledReason!: string | null;
  @Field(() => Date, { nullable: true, description: 'Since when every attempt has failed; null while it answers.' }) failingSince!: Date | null;
  @Field(() => Date) createdAt!: Date;
}

@ObjectType()
export class CreatedWebhookEndpoint {
  @Field(() => WebhookEndpoint) endpoint!: WebhookEndpoint;
  @Field({ description: 'The signing secret (whsec_ + base64); shown only here.' }) secret!: string;
}

@ObjectType({ description: 'One attempt to deliver a message.' })
export class WebhookAttempt {
  @Field(() => Int) attempt!: number;
  @Field(() => Int, { nullable: true, description: 'The HTTP status answered; null when there was no answer.' }) statusCode!: number | null;
  @Field(() => String, { nullable: true }) error!: string | null;
  @Field(() => Int) durationMs!: number;
  @Field(() => Date) at!: Date;
}

@ObjectType({ description: 'One message to one endpoint.' })
export class WebhookDelivery {
  @Field(() => ID) id!: string;
  @Field({ description: 'The webhook-id header: the same on every attempt.' }) messageId!: string;
  @Field(() => WebhookEvent) event!: WebhookEvent;
  @Field(() => WebhookDeliveryStatus) status!: WebhookDeliveryStatus;
  @Field(() => Int) attempts!: number;
  @Field(() => Int, { nullable: true }) lastStatusCode!: number | null;
  @Field(() => String, { nullable: true }) lastError!: string | null;
  @Field(() => Date) createdAt!: Date;
  @Field(() => Date, { nullable: true }) deliveredAt!: Date | null;
  @Field(() => Date, { nullable: true }) nextAttemptAt!: Date | null;
  /** Loaded by the resolver on demand. */
  endpointId!: string;
}

@ObjectType()
export class WebhookDeliveryPage {
  @Field(() => [WebhookDelivery]) items!: WebhookDelivery[];
  @Field(() => String, { nullable: true }) nextCursor!: string | null;
}

@InputType()
export class WebhookEndpointInput {
  @Field() url!: string;
  @Field(() => [WebhookEvent]) events!: WebhookEvent[];
  @Field(() => String, { nullable: true }) description?: string | null;
  @Field(() => [String], { nullable: true }) alertEmails?: string[] | null;
}

@InputType()
export class UpdateWebhookEndpointInput {
  @Field(() => String, { nullable: true }) url?: string | null;
  @Field(() => [WebhookEvent], { nullable: true }) events?: WebhookEvent[] | null;
  @Field(() => String, { nullable: true }) description?: string | null;
  @Field(() => Boolean, { nullable: true, description: 'true turns a disabled endpoint on again (its failure clock restarts).' }) enabled?: boolean | null;
  @Field(() => [String], { nullable: true }) alertEmails?: string[] | null;
}
