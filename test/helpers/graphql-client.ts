import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

export interface GraphQLResponse<T = any> {
  status: number;
  data?: T;
  errors?: Array<{ message: string; path?: string[]; extensions?: Record<string, any> }>;
}

/** POSTs one GraphQL operation, as a client would. */
export async function postGraphQL<T = any>(
  baseUrl: string,
  query: string,
  variables: Record<string, unknown> = {},
  key?: string | null,
): Promise<GraphQLResponse<T>> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (key) headers.authorization = `Bearer ${key}`;
  const response = await fetch(`${baseUrl}/graphql`, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  const body = (await response.json()) as { data?: T; errors?: GraphQLResponse['errors'] };
  return { status: response.status, data: body.data ?? undefined, errors: body.errors };
}

/** The error code of the first GraphQL error, or undefined. */
export const errorCode = (response: GraphQLResponse) => response.errors?.[0]?.extensions?.code as string | undefined;

/** A graphql-ws client authenticated with `key`. */
export function wsClient(baseUrl: string, key: string | null, options: { onClose?: (event: { code: number; reason: string }) => void } = {}): Client {
  return createClient({
    url: `${baseUrl.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: key ? { authorization: `Bearer ${key}` } : {},
    retryAttempts: 0,
    lazy: false,
    onNonLazyError: () => undefined,
    on: { closed: (event) => options.onClose?.(event as { code: number; reason: string }) },
  });
}

/**
 * A graphql-transport-ws connection made with `ws` by hand (no client library), for tests that
 * send what a client library would not: it keeps every message and the close code.
 */
export function rawGraphQLSocket(baseUrl: string) {
  const socket = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
  const messages: any[] = [];
  let closeCode: number | null = null;
  const closed = new Promise<number>((resolve) =>
    socket.on('close', (code) => {
      closeCode = code;
      resolve(code);
    }),
  );
  socket.on('message', (data) => messages.push(JSON.parse(String(data))));
  socket.on('error', () => undefined);
  const opened = new Promise<void>((resolve) => socket.on('open', () => resolve()));
  return {
    socket,
    messages,
    opened,
    closed,
    closeCode: () => closeCode,
    acknowledged: () => messages.some((message) => message.type === 'connection_ack'),
    /** Sends connection_init with this payload (or this text as it is). */
    async init(payload: unknown): Promise<void> {
      await opened;
      socket.send(typeof payload === 'string' ? payload : JSON.stringify({ type: 'connection_init', payload }));
    },
    subscribe(id: string, query: string): void {
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ id, type: 'subscribe', payload: { query } }));
    },
  };
}
