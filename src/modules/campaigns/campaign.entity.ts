import { Column, CreateDateColumn, Entity, PrimaryColumn, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import { Field, ID, InputType, ObjectType, registerEnumType } from 'type-graphql';

export enum CampaignKind {
  SPIN_TO_WIN = 'SPIN_TO_WIN',
  COPY_BUTTON = 'COPY_BUTTON',
  WIDGET = 'WIDGET',
  AUTOMATED = 'AUTOMATED',
}
export enum CampaignStatus {
  ACTIVE = 'ACTIVE',
  FINISHED = 'FINISHED',
}
export enum FinishReason {
  LIST_EXHAUSTED = 'LIST_EXHAUSTED',
  LIST_EXPIRED = 'LIST_EXPIRED',
  MANUAL = 'MANUAL',
}
registerEnumType(CampaignKind, { name: 'CampaignKind' });
registerEnumType(CampaignStatus, { name: 'CampaignStatus' });
registerEnumType(FinishReason, { name: 'FinishReason' });

/** A campaign hands out codes from its lists; once FINISHED it never restarts by itself. */
@ObjectType()
@Entity('campaigns')
export class Campaign {
  @Field(() => ID)
  @PrimaryGeneratedColumn({ type: 'bigint', unsigned: true })
  id!: string;

  @Field()
  @Column({ type: 'varchar', length: 200 })
  name!: string;

  @Field(() => CampaignKind)
  @Column({ type: 'enum', enum: CampaignKind })
  kind!: CampaignKind;

  @Field(() => CampaignStatus)
  @Column({ type: 'enum', enum: CampaignStatus, default: CampaignStatus.ACTIVE })
  status!: CampaignStatus;

  @Field(() => Date, { nullable: true })
  @Column({ name: 'finished_at', type: 'datetime', precision: 3, nullable: true })
  finishedAt!: Date | null;

  @Field(() => FinishReason, { nullable: true })
  @Column({ name: 'finish_reason', type: 'enum', enum: FinishReason, nullable: true })
  finishReason!: FinishReason | null;

  @Field(() => Date)
  @CreateDateColumn({ name: 'created_at', type: 'datetime', precision: 3 })
  createdAt!: Date;

  @Field(() => Date)
  @UpdateDateColumn({ name: 'updated_at', type: 'datetime', precision: 3 })
  updatedAt!: Date;
}

/** Which lists a campaign draws from, in the order given at creation (position 0 first). */
@Entity('campaign_lists')
export class CampaignList {
  @PrimaryColumn({ name: 'campaign_id', type: 'bigint', unsigned: true })
  campaignId!: string;

  @PrimaryColumn({ name: 'list_id', type: 'bigint', unsigned: true })
  listId!: string;

  @Column({ type: 'int' })
  position!: number;
}

@InputType()
export class CreateCampaignInput {
  @Field()
  name!: string;

  @Field(() => CampaignKind)
  kind!: CampaignKind;

  @Field(() => [ID], { description: 'One or more lists; without listId, claims draw from the first that can still hand out a code.' })
  listIds!: string[];
}
