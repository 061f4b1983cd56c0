import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** What a route does with the next request: answer with a status (after a delay), hang up, or hold it open. */
export type Behaviour = { status: number; delayMs?: number } | { hangUp: true } | { hold: true };

export interface ReceivedWebhook {
  path: string;
  id: string;
  timestamp: string;
  signature: string;
  body: string;
  /** The parsed body, when the signature verified with the route's secret. */
  payload: { type: string; timestamp: string; data: Record<string, any> } | null;
  /** Why verification failed (null when it verified). */
  verifyError: string | null;
  behaviour: Behaviour;
  at: number;
}

interface Route {
  secret: string;
  /** Behaviours for the next requests, in order; the last one repeats. */
  script: Behaviour[];
}

/**
 * A real webhook receiver for the tests: an HTTP server that verifies every request's signature
 * with the standardwebhooks library (the secret of its route), and answers as scripted: a
 * status, slowly, by hanging up, or not at all until released.
 */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  private readonly routes = new Map<string, Route>();
  private readonly held: http.ServerResponse[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly waiters: Array<() => void> = [];
  private server!: http.Server;
  port = 0;

  async start(): Promise<void> {
    this.server = http.createServer((request, response) => this.handle(request, response));
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** Sets (or replaces) the secret and script of a path. */
  route(path: string, secret: string, script: Behaviour[] = [{ status: 200 }]): void {
    this.routes.set(path, { secret, script: [...script] });
  }

  at(path: string): ReceivedWebhook[] {
    return this.received.filter((item) => item.path === path);
  }

  /** Answers every held request with 200. */
  release(): void {
    for (const response of this.held.splice(0)) if (!response.writableEnded) response.writeHead(200).end('ok');
  }

  /** Resolves once `condition` holds (checked after every request). */
  async waitFor(condition: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; received ${this.received.length} requests`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 500);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async stop(): Promise<void> {
    this.release();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(request: http.IncomingMessage, response: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = request.url ?? '/';
      const route = this.routes.get(path);
      const behaviour: Behaviour = route ? (route.script.length > 1 ? route.script.shift()! : route.script[0]) : { status: 404 };
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = {
        'webhook-id': String(request.headers['webhook-id'] ?? ''),
        'webhook-timestamp': String(request.headers['webhook-timestamp'] ?? ''),
        'webhook-signature': String(request.headers['webhook-signature'] ?? ''),
      };
      let payload: ReceivedWebhook['payload'] = null;
      let verifyError: string | null = 'no route';
      if (route) {
        try {
          payload = new Webhook(route.secret).verify(body, headers) as ReceivedWebhook['payload'];
          verifyError = null;
        } catch (error) {
          verifyError = (error as Error).message;
        }
      }
      this.received.push({
        path,
        id: headers['webhook-id'],
        timestamp: headers['webhook-timestamp'],
        signature: headers['webhook-signature'],
        body,
        payload,
        verifyError,
        behaviour,
        at: Date.now(),
      });
      for (const wake of this.waiters.splice(0)) wake();
      if ('hangUp' in behaviour) {
        request.socket.destroy();
      } else if ('hold' in behaviour) {
        this.held.push(response);
      } else if (behaviour.delayMs) {
        setTimeout(() => response.writeHead(behaviour.status).end(`status ${behaviour.status}`), behaviour.delayMs);
      } else {
        response.writeHead(behaviour.status).end(`status ${behaviour.status}`);
      }
    });
  }
}
