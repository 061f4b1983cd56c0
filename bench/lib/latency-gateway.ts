import { fork, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/**
 * A stand-in SMS/push gateway in a process of its own (as a real one would be: its work does not
 * slow down the load generator): answers 200 after `latencyMs`, counts requests and distinct
 * Idempotency-Keys, and flags requests whose body does not match the contract.
 */
export interface GatewayStats {
  requests: number;
  distinctKeys: number;
  malformed: number;
}

export interface LatencyGateway {
  url: string;
  pid: number;
  stats(): Promise<GatewayStats>;
  stop(): Promise<void>;
}

/**
 * channel WEBHOOK: a webhook receiver instead; keys are webhook-ids, and a request whose
 * signature does not verify with `secret` (by the standardwebhooks library) is malformed.
 */
export async function startLatencyGateway(latencyMs: number, channel: 'SMS' | 'PUSH' | 'WEBHOOK' = 'SMS', secret = ''): Promise<LatencyGateway> {
  const child: ChildProcess = fork(__filename, ['serve', String(latencyMs), channel, secret], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (message) => resolve((message as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`gateway exited with code ${code}`)));
  });
  let pending: ((stats: GatewayStats) => void) | null = null;
  child.on('message', (message) => {
    const stats = message as GatewayStats;
    if ('requests' in stats) pending?.(stats);
  });
  return {
    url: `http://127.0.0.1:${port}/send`,
    pid: child.pid!,
    stats: () =>
      new Promise<GatewayStats>((resolve) => {
        pending = resolve;
        child.send('stats');
      }),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

function serve(latencyMs: number, channel: string, secret: string): void {
  const verifier = channel === 'WEBHOOK' ? new Webhook(secret) : null;
  let requests = 0;
  let malformed = 0;
  const keys = new Set<string>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      requests++;
      const key = String(req.headers[verifier ? 'webhook-id' : 'idempotency-key'] ?? '');
      const text = Buffer.concat(chunks).toString('utf8');
      if (!(verifier ? signatureVerifies(verifier, text, req.headers as Record<string, string>) : gatewayBodyValid(text, key, channel))) malformed++;
      keys.add(key);
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"accepted":true}');
      }, latencyMs);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as AddressInfo).port }));
  process.on('message', () => process.send!({ requests, distinctKeys: keys.size, malformed } satisfies GatewayStats));
  process.on('SIGTERM', () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}

function gatewayBodyValid(text: string, key: string, channel: string): boolean {
  try {
    const body = JSON.parse(text) as { to?: string; body?: string; userId?: string; assignmentId?: string };
    return Boolean(body.to && body.body && body.userId && `${body.assignmentId}:${channel}` === key);
  } catch {
    return false;
  }
}

function signatureVerifies(verifier: Webhook, text: string, headers: Record<string, string>): boolean {
  try {
    verifier.verify(text, headers);
    return true;
  } catch {
    return false;
  }
}

if (require.main === module && process.argv[2] === 'serve') serve(Number(process.argv[3]), process.argv[4], process.argv[5] ?? '');
