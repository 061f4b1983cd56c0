import { execFileSync } from 'node:child_process';
import { createServer, request, type Server } from 'node:http';
import { connect, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { addAcceptHandles } from '../../src/infra/http/accept-handles';
import { ConnectionCap } from '../../src/infra/http/connection-cap';
import { eventually } from '../helpers/fixtures';

/**
 * Further listening handles on the API's socket (a burst of connections is accepted several per
 * event-loop turn), and the one connection cap over all of them.
 */
/** Below net.core.somaxconn (4096 on current kernels), so the kernel keeps it as asked. */
const BACKLOG = 1234;

/** The accept queue's length limit of the socket listening on `port`, as `ss` reports it (Send-Q). */
function listenBacklog(port: number): number | null {
  let out: string;
  try {
    out = execFileSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' });
  } catch (error) {
    if (process.env.CI === 'true') throw error;
    console.log(`ss (iproute2) is not installed: the listen backlog is not checked`);
    return null;
  }
  return Number(out.trim().split(/\s+/)[2]);
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
    const backlog = listenBacklog(port);
    if (backlog !== null) expect(backlog).toBe(BACKLOG);
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
