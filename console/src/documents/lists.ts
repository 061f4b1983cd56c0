import { gql } from '../api/graphql';

export type ListStatus = 'ACTIVE' | 'EXHAUSTED' | 'EXPIRED';
export type ListKind = 'FIXED' | 'UNIQUE';

export interface ListRow {
  id: string;
  name: string;
  kind: ListKind;
  totalCodes: number;
  assignedCodes: number;
  availableCodes: number;
  warningLimit: number | null;
  expiresAt: string | null;
  status: ListStatus;
}

export interface ListDetail extends ListRow {
  fixedCode: string | null;
  fixedLimit: number | null;
  alertEmails: string[];
  /** Live redemptions (redeemed and not undone). */
  redeemedCodes: number;
  createdAt: string;
  updatedAt: string;
}

export interface Stock {
  listId: string;
  totalCodes: number;
  assignedCodes: number;
  availableCodes: number;
  status: ListStatus;
  at: string;
}

const ROW = 'id name kind totalCodes assignedCodes availableCodes warningLimit expiresAt status';
const DETAIL = `${ROW} fixedCode fixedLimit alertEmails redeemedCodes createdAt updatedAt`;

export const ListsPageQuery = gql<
  { couponLists: { items: ListRow[]; totalCount: number; nextCursor: string | null } },
  { first: number; after: string | null; status: ListStatus | null; search: string | null }
>(`query ListsPage($first: Int, $after: String, $status: CouponListStatus, $search: String) {
  couponLists(first: $first, after: $after, status: $status, search: $search) { items { ${ROW} } totalCount nextCursor }
}`);

export const ListQuery = gql<{ couponList: ListDetail | null }, { id: string }>(`query List($id: ID!) { couponList(id: $id) { ${DETAIL} } }`);

export interface ListInput {
  name?: string;
  kind?: ListKind;
  fixedCode?: string | null;
  fixedLimit?: number | null;
  warningLimit?: number | null;
  alertEmails?: string[];
  expiresAt?: string | null;
}

export const CreateList = gql<{ createCouponList: ListDetail }, { input: ListInput }>(
  `mutation CreateList($input: CreateCouponListInput!) { createCouponList(input: $input) { ${DETAIL} } }`,
);

export const UpdateList = gql<{ updateCouponList: ListDetail }, { id: string; input: ListInput }>(
  `mutation UpdateList($id: ID!, $input: UpdateCouponListInput!) { updateCouponList(id: $id, input: $input) { ${DETAIL} } }`,
);

export const StockUpdates = gql<{ couponListAvailability: Stock }, { listIds: string[] | null }>(
  `subscription Stock($listIds: [ID!]) { couponListAvailability(listIds: $listIds) { listId totalCodes assignedCodes availableCodes status at } }`,
);

export interface LowStock {
  listId: string;
  listName: string;
  availableCodes: number;
  warningLimit: number;
  at: string;
}

export const LowStockAlerts = gql<{ lowStockAlerts: LowStock }>(
  `subscription LowStock { lowStockAlerts { listId listName availableCodes warningLimit at } }`,
);

/** Lists by name for pickers (campaign form). */
export const ListPicker = gql<{ couponLists: { items: { id: string; name: string; status: ListStatus }[] } }, { search: string | null }>(
  `query ListPicker($search: String) { couponLists(first: 100, search: $search) { items { id name status } } }`,
);
