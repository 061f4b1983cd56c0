import { once } from 'node:events';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

/**
 * Every TCP connection of an HTTP server, whichever listening handle accepted it (see
 * accept-handles.ts), counted against one cap: over `max`, a new connection is closed at once.
 */
export class ConnectionCap {
  private readonly open = new Set<Socket>();

  constructor(server: Server, private readonly max: number) {
    // The server's own handle refuses before a socket is even made; the check below covers all.
    server.maxConnections = max;
    server.prependListener('connection', (socket: Socket) => {
      if (this.open.size >= this.max) {
        socket.destroy();
        return;
      }
      this.open.add(socket);
      socket.once('close', () => this.open.delete(socket));
    });
  }

  /** Resolves once every connection has closed; those still open after `graceMs` are destroyed. */
  async drained(graceMs: number): Promise<void> {
    if (this.open.size === 0) return;
    const timeout = new AbortController();
    await Promise.race([Promise.all([...this.open].map((socket) => once(socket, 'close').catch(() => undefined))), delay(graceMs, undefined, { signal: timeout.signal }).catch(() => undefined)]);
    timeout.abort();
    for (const socket of this.open) socket.destroy();
  }
}
