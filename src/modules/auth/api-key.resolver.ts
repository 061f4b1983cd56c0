import { Arg, Authorized, Ctx, ID, Mutation, Query, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../graphql-context.js';
import { ApiKey, CreatedApiKey } from './api-key.entity.js';
import { Allow, ApiKeyRole } from './api-key-role.js';
import { ApiKeyService } from './api-key.service.js';

@Resolver(() => ApiKey)
export class ApiKeyResolver {
  @Authorized(...Allow.MANAGE)
  @Query(() => [ApiKey], { description: 'All API keys, revoked ones included.' })
  apiKeys(@Ctx() { app }: GraphQLContext): Promise<ApiKey[]> {
    return app.get(ApiKeyService).list();
  }

  @Authorized(...Allow.MANAGE)
  @Mutation(() => CreatedApiKey)
  createApiKey(
    @Arg('name', () => String) name: string,
    @Arg('role', () => ApiKeyRole) role: ApiKeyRole,
    @Arg('campaignIds', () => [ID], { nullable: true, description: 'CLIENT keys: the only campaigns it may claim and redeem in; omitted or empty = all.' })
    campaignIds: string[] | null,
    @Ctx() { app }: GraphQLContext,
  ): Promise<CreatedApiKey> {
    return app.get(ApiKeyService).create(name, role, campaignIds);
  }

  @Authorized(...Allow.MANAGE)
  @Mutation(() => ApiKey)
  revokeApiKey(@Arg('id', () => ID) id: string, @Ctx() { app }: GraphQLContext): Promise<ApiKey> {
    return app.get(ApiKeyService).revoke(id);
  }
}
