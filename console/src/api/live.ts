import { signal } from '@preact/signals';
import { createClient, type Client } from 'graphql-ws';
import type { Document } from './graphql';

/** The WebSocket's state, shown to the user while it is away. */
export const connection = signal<'connecting' | 'connected' | 'reconnecting' | 'closed'>('closed');
/** Counts reconnections: pages reload their figures when it changes (updates may have been missed). */
export const reconnections = signal(0);

let client: Client | null = null;

/**
 * Opens the one WebSocket of the session (graphql-transport-ws), sending the key as
 * connectionParams; it reconnects by itself with growing pauses. A close with 4401/4403 means
 * the server no longer accepts the key.
 */
export function openLive(key: string, onKeyRefused: (reason: string) => void): void {
  closeLive();
  let everConnected = false;
  connection.value = 'connecting';
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`;
  const current = createClient({
    url,
    connectionParams: { authorization: `Bearer ${key}` },
    lazy: false,
    keepAlive: 10_000,
    retryAttempts: Infinity,
    shouldRetry: () => true,
    retryWait: async (retries) => new Promise((resolve) => setTimeout(resolve, Math.min(500 * 2 ** retries, 10_000))),
    onNonLazyError: () => undefined,
    on: {
      connected: () => {
        if (client !== current) return;
        if (everConnected) reconnections.value++;
        everConnected = true;
        connection.value = 'connected';
      },
      closed: (event) => {
        if (client !== current) return;
        const code = (event as { code?: number }).code;
        if (code === 4401 || code === 4403) {
          onKeyRefused('The server no longer accepts this API key (revoked or expired). Sign in with a valid key.');
          return;
        }
        connection.value = 'reconnecting';
      },
    },
  });
  client = current;
}

export function closeLive(): void {
  const current = client;
  client = null;
  connection.value = 'closed';
  void current?.dispose();
}

/** Subscribes while the returned function is not called; errors go to onError in words. */
export function subscribe<Result, Variables>(
  document: Document<Result, Variables>,
  variables: Variables,
  onData: (data: Result) => void,
  onError?: (message: string) => void,
): () => void {
  if (!client) return () => {};
  return client.subscribe<Result>(
    { query: document, variables: variables as Record<string, unknown> },
    {
      next: (result) => {
        if (result.data) onData(result.data as Result);
        else if (result.errors?.length) onError?.(result.errors.map((error) => error.message).join('; '));
      },
      error: (error) => {
        if (Array.isArray(error)) onError?.(error.map((e: { message: string }) => e.message).join('; '));
      },
      complete: () => {},
    },
  );
}
