import { gql } from '../api/graphql';

export type KeyRole = 'ADMIN' | 'CLIENT' | 'VIEWER';

export interface ApiKey {
  id: string;
  name: string;
  role: KeyRole;
  createdAt: string;
  revokedAt: string | null;
}

const KEY = 'id name role createdAt revokedAt';

export const KeysQuery = gql<{ apiKeys: ApiKey[] }>(`query Keys { apiKeys { ${KEY} } }`);

export const CreateKey = gql<{ createApiKey: { apiKey: ApiKey; secret: string } }, { name: string; role: KeyRole }>(
  `mutation CreateKey($name: String!, $role: ApiKeyRole!) { createApiKey(name: $name, role: $role) { secret apiKey { ${KEY} } } }`,
);

export const RevokeKey = gql<{ revokeApiKey: ApiKey }, { id: string }>(`mutation RevokeKey($id: ID!) { revokeApiKey(id: $id) { ${KEY} } }`);
