import { HeaderMap, type ApolloServer, type BaseContext } from '@apollo/server';
import type { IncomingMessage, ServerResponse } from 'node:http';
import getRawBody from 'raw-body';

/** What the handler is told about a request before its body is read. */
export type Admission<Admitted> = { admitted: Admitted } | { refused: { status: number; code: string; message: string } };

export interface GraphQLPostOptions<Context extends BaseContext, Admitted> {
  apollo: ApolloServer<Context>;
  /** The largest body accepted (bytes); a larger one is answered 413 without reading it all. */
  maxBodyBytes: number;
  /** The whole body must arrive within this, or the connection is closed. */
  bodyTimeoutMs: number;
  /** Runs on the headers alone, before any of the body is read. */
  admit(req: IncomingMessage): Promise<Admission<Admitted>>;
  context(req: IncomingMessage, admitted: Admitted): Context;
  /** Called once per answered request, with its status. */
  answered(status: number, seconds: number): void;
  /** An error no answer could be made for (logged by the caller). */
  failed(error: unknown): void;
}

/**
 * A POST of JSON to /graphql, the request widget backends and shops send thousands of times a
 * second: answered straight from the HTTP server by Apollo's own request pipeline
 * (`executeHTTPGraphQLRequest`, what its express integration calls), without express's router,
 * body parser middleware and response helpers, which cost more per request than the GraphQL
 * work of a claim. Anything else (uploads, GET, compressed bodies) goes to express, unchanged.
 */
export function isPlainGraphQLPost(req: IncomingMessage): boolean {
  if (req.method !== 'POST') return false;
  const url = req.url ?? '';
  if (url !== '/graphql' && !url.startsWith('/graphql?')) return false;
  const type = req.headers['content-type'];
  const encoding = req.headers['content-encoding'];
  return typeof type === 'string' && JSON_TYPE.test(type) && (encoding === undefined || encoding === 'identity');
}

/** The answers to a body that cannot be read as GraphQL, on either path. */
export const BODY_NOT_JSON = 'The request body is not valid JSON';
export const BODY_TOO_LARGE = 'The request body is too large';

/**
 * A GraphQL-shaped error answer. `close`: the connection is closed after it, so a client
 * streaming a body it may not send holds nothing.
 */
export function sendError(res: ServerResponse, status: number, code: string, message: string, close = false): void {
  const text = JSON.stringify({ errors: [{ message, extensions: { code } }] });
  if (close) res.setHeader('connection', 'close');
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** The whole body must have arrived within `ms`, or the connection is closed. */
export function bodyDeadline(req: IncomingMessage, ms: number): void {
  if (req.complete) return;
  const timer = setTimeout(() => req.socket.destroy(), ms).unref();
  const clear = () => clearTimeout(timer);
  req.once('end', clear);
  req.once('close', clear);
}

/** application/json, with parameters (charset) at most; other charsets than UTF-8 go to express. */
const JSON_TYPE = /^\s*application\/json\s*(;\s*charset\s*=\s*"?utf-8"?\s*)?$/i;

export function graphqlPostHandler<Context extends BaseContext, Admitted>(options: GraphQLPostOptions<Context, Admitted>) {
  const { apollo, maxBodyBytes, bodyTimeoutMs } = options;
  return (req: IncomingMessage, res: ServerResponse): void => {
    const started = process.hrtime.bigint();
    res.once('finish', () => options.answered(res.statusCode, Number(process.hrtime.bigint() - started) / 1e9));
    handle(req, res).catch((error: unknown) => {
      options.failed(error);
      if (!res.headersSent) sendError(res, 500, 'INTERNAL_SERVER_ERROR', 'The request could not be answered');
      else res.destroy();
    });
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const admission = await options.admit(req);
    if ('refused' in admission) {
      const { status, code, message } = admission.refused;
      return sendError(res, status, code, message, true);
    }
    const read = await readBody(req);
    if ('cut' in read) return;
    if ('refused' in read) return sendError(res, read.refused.status, 'BAD_REQUEST', read.refused.message, true);
    let body: unknown;
    try {
      body = read.text === '' ? {} : JSON.parse(read.text);
    } catch {
      return sendError(res, 400, 'BAD_REQUEST', BODY_NOT_JSON);
    }
    const headers = new HeaderMap();
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    }
    const url = req.url ?? '';
    const query = url.indexOf('?');
    const response = await apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method: 'POST', headers, search: query < 0 ? '' : url.slice(query), body },
      context: async () => options.context(req, admission.admitted),
    });
    for (const [name, value] of response.headers) res.setHeader(name, value);
    res.statusCode = response.status ?? 200;
    if (response.body.kind === 'complete') {
      res.setHeader('content-length', Buffer.byteLength(response.body.string));
      res.end(response.body.string);
      return;
    }
    for await (const chunk of response.body.asyncIterator) res.write(chunk);
    res.end();
  }

  /** The body as text; or why it was refused; or `cut` when the client went away or ran out of time. */
  async function readBody(req: IncomingMessage): Promise<{ text: string } | { refused: { status: number; message: string } } | { cut: true }> {
    bodyDeadline(req, bodyTimeoutMs);
    try {
      // A Buffer, decoded here: UTF-8 only (the content type said so), a leading BOM dropped.
      const text = (await getRawBody(req, { limit: maxBodyBytes, length: req.headers['content-length'] })).toString('utf8');
      return { text: text.charCodeAt(0) === 0xfeff ? text.slice(1) : text };
    } catch (error) {
      if (req.socket.destroyed) return { cut: true };
      const type = (error as { type?: string }).type;
      if (type === 'entity.too.large') return { refused: { status: 413, message: BODY_TOO_LARGE } };
      if (type === 'request.aborted') return { cut: true };
      if (type === 'request.size.invalid') return { refused: { status: 400, message: 'The request body is shorter or longer than its Content-Length' } };
      throw error;
    }
  }
}
