import { gql } from '../api/graphql';

export type UploadMode = 'APPEND' | 'REPLACE';
export type UploadStatus = 'QUEUED' | 'PROCESSING' | 'COMPLETED' | 'FAILED';

export interface Upload {
  id: string;
  fileName: string;
  mode: UploadMode;
  status: UploadStatus;
  linesRead: number;
  codesAdded: number;
  duplicatesSkipped: number;
  invalidLines: number;
  bytesReceived: number;
  errors: { line: number; reason: string }[];
  failureReason: string | null;
  createdAt: string;
  completedAt: string | null;
}

const UPLOAD = 'id fileName mode status linesRead codesAdded duplicatesSkipped invalidLines bytesReceived errors { line reason } failureReason createdAt completedAt';

export const UploadCodes = gql<{ uploadCouponCodes: Upload }, { listId: string; file: File; mode: UploadMode }>(
  `mutation UploadCodes($listId: ID!, $file: Upload!, $mode: UploadMode) { uploadCouponCodes(listId: $listId, file: $file, mode: $mode) { ${UPLOAD} } }`,
);

export const UploadQuery = gql<{ codeUpload: Upload | null }, { id: string }>(`query Upload($id: ID!) { codeUpload(id: $id) { ${UPLOAD} } }`);

export const UploadProgress = gql<{ codeUploadProgress: Upload }, { uploadId: string }>(
  `subscription UploadProgress($uploadId: ID!) { codeUploadProgress(uploadId: $uploadId) { ${UPLOAD} } }`,
);

export const UploadHistory = gql<{ codeUploads: Upload[] }, { listId: string }>(
  `query UploadHistory($listId: ID!) { codeUploads(listId: $listId, first: 20) { ${UPLOAD} } }`,
);
