import { Arg, Authorized, ID, Mutation, Query, Resolver } from 'type-graphql';
import type { AppContext } from '../../app-context.js';
import { ApiKey, CreatedApiKey } from './api-key.entity.js';
import { Allow, ApiKeyRole } from './api-key-role.js';
import { ApiKeyService } from './api-key.service.js';

@Resolver(() => ApiKey)
export class ApiKeyResolver {
  private readonly apiKeyService: ApiKeyService;

  constructor(app: AppContext) {
    this.apiKeyService = app.get(ApiKeyService);
  }

  @Authorized(...Allow.MANAGE)
  @Query(() => [ApiKey], { description: 'All API keys, revoked ones included.' })
  apiKeys(): Promise<ApiKey[]> {
    return this.apiKeyService.list();
  }

  @Authorized(...Allow.MANAGE)
  @Mutation(() => CreatedApiKey)
  createApiKey(
    @Arg('name', () => String) name: string,
    @Arg('role', () => ApiKeyRole) role: ApiKeyRole,
    @Arg('campaignIds', () => [ID], { nullable: true, description: 'CLIENT keys: the only campaigns it may claim and redeem in; omitted or empty = all.' })
    campaignIds: string[] | null,
  ): Promise<CreatedApiKey> {
    return this.apiKeyService.create(name, role, campaignIds);
  }

  @Authorized(...Allow.MANAGE)
  @Mutation(() => ApiKey)
  revokeApiKey(@Arg('id', () => ID) id: string): Promise<ApiKey> {
    return this.apiKeyService.revoke(id);
  }
}
