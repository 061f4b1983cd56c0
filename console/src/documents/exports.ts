import { gql } from '../api/graphql';

export interface UsageExport {
  id: string;
  status: 'QUEUED' | 'PROCESSING' | 'COMPLETED' | 'FAILED';
  rowCount: number | null;
  downloadUrl: string | null;
  failureReason: string | null;
  createdAt: string;
  completedAt: string | null;
}

const EXPORT = 'id status rowCount downloadUrl failureReason createdAt completedAt';

export const StartExport = gql<{ exportCouponUsage: UsageExport }, { listId: string }>(
  `mutation StartExport($listId: ID!) { exportCouponUsage(listId: $listId) { ${EXPORT} } }`,
);

export const ExportQuery = gql<{ couponUsageExport: UsageExport | null }, { id: string }>(
  `query Export($id: ID!) { couponUsageExport(id: $id) { ${EXPORT} } }`,
);
