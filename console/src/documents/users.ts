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
