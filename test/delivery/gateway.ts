import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface GatewayRequest {
  path: string;
  key: string;
  body: { to: string; body: string; userId: string; assignmentId: string };
  at: number;
  /** What the gateway answered; 0: no answer reached the client (hung up, or the client gave up); null: not answered yet. */
  status: number | null;
}

export interface GatewayBehaviour {
  /** HTTP status; 0 hangs up without answering (a network error for the client). */
  status: number;
  /** Delay before answering, in ms. */
  delayMs?: number;
}

/**
 * A real SMS/push gateway stand-in on 127.0.0.1: records every request it receives and answers
 * as `behave` says (given the request and how many times its Idempotency-Key was seen before).
 */
export class TestGateway {
  readonly requests: GatewayRequest[] = [];
  behave: (request: Omit<GatewayRequest, 'status' | 'at'>, seenBefore: number) => GatewayBehaviour = () => ({ status: 200 });
  private server!: Server;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  private async handle(req: IncomingMessage, res: import('node:http').ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const key = String(req.headers['idempotency-key'] ?? '');
    const request = { path: req.url ?? '', key, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) };
    const seenBefore = this.requests.filter((r) => r.key === key).length;
    const behaviour = this.behave(request, seenBefore);
    const recorded: GatewayRequest = { ...request, at: Date.now(), status: null };
    this.requests.push(recorded);
    if (behaviour.delayMs) await new Promise((resolve) => setTimeout(resolve, behaviour.delayMs));
    if (behaviour.status === 0) {
      recorded.status = 0;
      req.socket.destroy();
      return;
    }
    if (res.destroyed || req.socket.destroyed) {
      recorded.status = 0;
      return;
    }
    recorded.status = behaviour.status;
    res.writeHead(behaviour.status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(behaviour.status < 300 ? { accepted: true } : { error: `status ${behaviour.status} on purpose` }));
  }

  forKey(key: string): GatewayRequest[] {
    return this.requests.filter((request) => request.key === key);
  }

  /** Requests the gateway answered with 2xx, per Idempotency-Key. */
  acceptedPerKey(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const request of this.requests) if (request.status !== null && request.status >= 200 && request.status < 300) counts.set(request.key, (counts.get(request.key) ?? 0) + 1);
    return counts;
  }

  reset(): void {
    this.requests.length = 0;
    this.behave = () => ({ status: 200 });
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
