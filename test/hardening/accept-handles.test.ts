import { execFileSync } from 'node:child_process';
import { createServer, request, type Server } from 'node:http';
import { connect, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { addAcceptHandles } from '../../src/infra/http/accept-handles';
import { BurstAccepting } from '../../src/infra/http/burst-accepting';
import { ConnectionCap } from '../../src/infra/http/connection-cap';
import { eventually } from '../helpers/fixtures';

/**
 * Further listening handles on the API's socket (a burst of connections is accepted several per
 * event-loop turn), and the one connection cap over all of them.
 */
/** Below net.core.somaxconn (4096 on current kernels), so the kernel keeps it as asked. */
const BACKLOG = 1234;

/**
 * The socket listening on `port` as `ss` reports it: its accept queue's length (Recv-Q) and
 * limit (Send-Q); null where `ss` (iproute2) is not installed.
 */
function listenQueue(port: number): { queued: number; backlog: number } | null {
  let out: string;
  try {
    out = execFileSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' });
  } catch (error) {
    if (process.env.CI === 'true') throw error;
    console.log(`ss (iproute2) is not installed: the listen queue is not checked`);
    return null;
  }
  const [, queued, backlog] = out.trim().split(/\s+/);
  return { queued: Number(queued), backlog: Number(backlog) };
}

describe('further listening handles', () => {
  let server: Server;
  let acceptors: NetServer[] = [];
  let port: number;

  beforeEach(async () => {
    server = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: BACKLOG }, resolve));
    port = (server.address() as AddressInfo).port;
    acceptors = await addAcceptHandles(server, 3, BACKLOG, (socket) => server.emit('connection', socket));
  });
  afterEach(async () => {
    for (const acceptor of acceptors) acceptor.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const get = () =>
    new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
        let body = '';
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () => resolve(body));
      });
      req.on('error', reject);
      req.end();
    });

  it('accept on the same port, each a socket of its own; none goes to the process that copied them', async () => {
    expect(acceptors).toHaveLength(3);
    // The server's own handle stops: only the copies accept now, and every connection is served.
    server.close();
    const answers = await Promise.all(Array.from({ length: 20 }, get));
    expect(answers).toEqual(Array(20).fill('ok'));
    for (const acceptor of acceptors) acceptor.close();
    await expect(get()).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('keep the backlog the server listens with (listening again would set Node’s default, 511)', () => {
    const queue = listenQueue(port);
    if (queue !== null) expect(queue.backlog).toBe(BACKLOG);
  });

  it('count against one cap with the server\u2019s own connections', async () => {
    const cap = new ConnectionCap(server, 3);
    const sockets: Array<{ socket: Socket; closed: boolean }> = [];
    for (let i = 0; i < 8; i++) {
      const socket = connect(port, '127.0.0.1');
      const entry = { socket, closed: false };
      socket.on('error', () => undefined);
      socket.on('close', () => (entry.closed = true));
      sockets.push(entry);
    }
    await eventually(() => sockets.filter((entry) => entry.closed).length >= 5, 10_000, 'the connections over the cap closed');
    expect(sockets.filter((entry) => !entry.closed)).toHaveLength(3);
    for (const { socket } of sockets) socket.destroy();
    await cap.drained(1000);
  });
});

describe('further listening handles, only during a burst', () => {
  let server: Server;
  let acceptors: NetServer[] = [];
  let burst: BurstAccepting;
  let port: number;
  let viaCopies = 0;
  let accepted = 0;
  const clients: Socket[] = [];

  beforeEach(async () => {
    viaCopies = 0;
    accepted = 0;
    server = createServer((_req, res) => res.end('ok'));
    server.on('connection', () => accepted++);
    await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: BACKLOG }, resolve));
    port = (server.address() as AddressInfo).port;
    acceptors = await addAcceptHandles(server, 3, BACKLOG, (socket) => {
      viaCopies++;
      server.emit('connection', socket);
    });
    burst = new BurstAccepting(server, acceptors);
  });
  afterEach(async () => {
    burst.stop();
    for (const client of clients.splice(0)) client.destroy();
    for (const acceptor of acceptors) acceptor.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const open = () => {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    clients.push(socket);
    return socket;
  };

  it('stopped, accept nothing: with the server\u2019s own handle closed, new connections wait in the accept queue', async () => {
    expect(burst.accepting).toBe(false);
    server.close();
    for (let i = 0; i < 3; i++) open();
    const queue = listenQueue(port);
    if (queue === null) return;
    await eventually(() => listenQueue(port)!.queued === 3, 5_000, 'three connections waiting in the accept queue');
    expect(viaCopies).toBe(0);
  });

  it('accept while connections arrive faster than one per turn, and stop once they no longer do', async () => {
    // 100 connections complete their handshakes while the event loop is held up: a burst.
    for (let i = 0; i < 100; i++) open();
    const until = performance.now() + 100;
    while (performance.now() < until);
    await eventually(() => accepted === 100, 10_000, 'every connection accepted');
    expect(viaCopies).toBeGreaterThan(0);
    await eventually(() => !burst.accepting, 5_000, 'the further handles to stop after the burst');
  });
});
