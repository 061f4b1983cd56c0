import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';

export const CODE_UPLOAD_FIELDS =
  'id listId fileName mode status linesRead codesAdded duplicatesSkipped invalidLines blankLines errors { line reason } failureReason bytesReceived createdAt startedAt completedAt';

const UPLOAD_MUTATION = `mutation($listId: ID!, $file: Upload!, $mode: UploadMode) {
  uploadCouponCodes(listId: $listId, file: $file, mode: $mode) { ${CODE_UPLOAD_FIELDS} }
}`;

export interface UploadRequest {
  baseUrl: string;
  key: string | null;
  listId: string;
  fileName: string;
  /** The file: bytes in memory, or `{ path }` streamed from disk (never read whole). */
  content: Buffer | string | { path: string };
  mode?: 'APPEND' | 'REPLACE';
}

export interface UploadResponse {
  status: number;
  data?: any;
  errors?: Array<{ message: string; extensions?: Record<string, any> }>;
}

/**
 * Sends uploadCouponCodes as a GraphQL multipart request whose body is streamed: the file part
 * comes from memory or straight from disk. `apollo-require-preflight` satisfies Apollo's CSRF check.
 */
export async function uploadCodes(request: UploadRequest): Promise<UploadResponse> {
  const boundary = `----coupon-codes-${randomBytes(8).toString('hex')}`;
  const operations = JSON.stringify({ query: UPLOAD_MUTATION, variables: { listId: request.listId, file: null, mode: request.mode ?? 'APPEND' } });
  const head =
    `--${boundary}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n${operations}\r\n` +
    `--${boundary}\r\nContent-Disposition: form-data; name="map"\r\n\r\n${JSON.stringify({ 0: ['variables.file'] })}\r\n` +
    `--${boundary}\r\nContent-Disposition: form-data; name="0"; filename="${request.fileName.replace(/"/g, '%22')}"\r\n` +
    `Content-Type: text/plain\r\n\r\n`;
  const tail = `\r\n--${boundary}--\r\n`;
  const content = request.content;
  async function* body(): AsyncGenerator<Uint8Array> {
    // Never an empty piece: in a chunked request body it would mean "end of body".
    yield Buffer.from(head, 'utf8');
    if (typeof content === 'string') {
      if (content.length > 0) yield Buffer.from(content, 'utf8');
    } else if (Buffer.isBuffer(content)) {
      if (content.length > 0) yield content;
    } else {
      for await (const piece of createReadStream(content.path, { highWaterMark: 256 * 1024 })) yield piece as Buffer;
    }
    yield Buffer.from(tail, 'utf8');
  }
  const headers: Record<string, string> = {
    'content-type': `multipart/form-data; boundary=${boundary}`,
    'apollo-require-preflight': 'true',
  };
  if (request.key) headers.authorization = `Bearer ${request.key}`;
  const response = await fetch(`${request.baseUrl}/graphql`, {
    method: 'POST',
    headers,
    body: body() as unknown as ReadableStream,
    duplex: 'half',
  } as RequestInit & { duplex: 'half' });
  const text = await response.text();
  let parsed: { data?: any; errors?: UploadResponse['errors'] } = {};
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = { errors: [{ message: text }] };
  }
  return { status: response.status, data: parsed.data ?? undefined, errors: parsed.errors };
}
