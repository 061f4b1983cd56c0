import { gql } from '../api/graphql';

export interface UserCoupon {
  id: string;
  code: string;
  listId: string;
  campaignId: string;
  externalId: string | null;
  assignedAt: string;
  expiresAt: string | null;
  history: { kind: string; at: string }[];
  deliveries: { channel: string; status: string; sentAt: string | null; error: string | null }[];
}

export const UserCouponsQuery = gql<{ userCoupons: UserCoupon[] }, { userId: string }>(
  `query UserCoupons($userId: String!) { userCoupons(userId: $userId, first: 200) {
    id code listId campaignId externalId assignedAt expiresAt history { kind at } deliveries { channel status sentAt error } } }`,
);

type Named = { id: string; name: string } | null;

/** Names of lists and campaigns by id, as aliased fields (at most 25 per request: the server caps aliases). */
export function namesQuery(kind: 'couponList' | 'campaign', ids: string[]) {
  const variables = ids.map((_, i) => `$id${i}: ID!`).join(', ');
  const fields = ids.map((_, i) => `n${i}: ${kind}(id: $id${i}) { id name }`).join(' ');
  return gql<Record<string, Named>, Record<string, string>>(`query Names(${variables}) { ${fields} }`);
}

export const NAMES_PER_REQUEST = 25;
