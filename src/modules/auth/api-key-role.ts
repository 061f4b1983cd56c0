import { registerEnumType } from 'type-graphql';

export enum ApiKeyRole {
  ADMIN = 'ADMIN',
  CLIENT = 'CLIENT',
  VIEWER = 'VIEWER',
}

registerEnumType(ApiKeyRole, {
  name: 'ApiKeyRole',
  description: 'ADMIN: everything. CLIENT: claimCoupon and reading campaigns and lists. VIEWER: read everything, subscribe.',
});

/** Who may call what; every resolver names one of these in @Authorized. */
export const Allow = {
  /** Managing lists, campaigns, uploads, keys, delivery. */
  MANAGE: [ApiKeyRole.ADMIN],
  /** claimCoupon (widget backends). */
  CLAIM: [ApiKeyRole.ADMIN, ApiKeyRole.CLIENT],
  /** Reading campaigns and lists (widget backends too). */
  READ_CATALOG: [ApiKeyRole.ADMIN, ApiKeyRole.CLIENT, ApiKeyRole.VIEWER],
  /** Reading everything else, and subscriptions (dashboards). */
  READ_ALL: [ApiKeyRole.ADMIN, ApiKeyRole.VIEWER],
} as const;
