import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { Field, ID, ObjectType } from 'type-graphql';
import { ApiKeyRole } from './api-key-role.js';

@ObjectType({ description: 'A key for the API. Only its SHA-256 hash is stored.' })
@Entity('api_keys')
export class ApiKey {
  @Field(() => ID)
  @PrimaryGeneratedColumn({ type: 'bigint', unsigned: true })
  id!: string;

  @Field()
  @Column({ type: 'varchar', length: 200 })
  name!: string;

  @Field(() => ApiKeyRole)
  @Column({ type: 'enum', enum: ApiKeyRole })
  role!: ApiKeyRole;

  @Column({ name: 'key_hash', type: 'char', length: 64 })
  keyHash!: string;

  @Field(() => [ID], { description: 'CLIENT keys: the campaigns it may claim and redeem in; empty = all.' })
  @Column({
    name: 'campaign_ids',
    type: 'text',
    nullable: true,
    transformer: { to: (ids: string[] | undefined) => JSON.stringify(ids ?? []), from: (text: string | null) => (text ? (JSON.parse(text) as string[]) : []) },
  })
  campaignIds!: string[];

  @Field(() => Date)
  @CreateDateColumn({ name: 'created_at', type: 'datetime', precision: 3 })
  createdAt!: Date;

  @Field(() => Date, { nullable: true })
  @Column({ name: 'revoked_at', type: 'datetime', precision: 3, nullable: true })
  revokedAt!: Date | null;
}

@ObjectType()
export class CreatedApiKey {
  @Field(() => ApiKey)
  apiKey!: ApiKey;

  @Field({ description: 'The key itself. Shown once: only its hash is kept.' })
  secret!: string;
}
