import { spawn } from 'node:child_process';
import { Server, type Socket } from 'node:net';

/** How long the copying may take before the process goes on with its one handle. */
const COPY_TIMEOUT_MS = 5_000;

/**
 * The copier: a child process that sends every listening handle it receives straight back and
 * closes its own copy. It never listens on it (the raw handle, not a net.Server), so it never
 * accepts a connection.
 */
const ECHO = "process.on('message', (m, h) => process.send(m, h, () => { h.close(); if (m.last) process.disconnect(); }));";

/**
 * More listening handles on the socket a server listens on, each accepting connections for
 * `onConnection`.
 *
 * libuv accepts one connection per listening handle and event-loop turn (libuv/libuv#3696). A
 * process busy with a thousand open requests runs long turns, so clients that open many
 * connections at once (a flash sale) wait seconds in the kernel's accept queue, or time out.
 * Each further handle is another file descriptor of the same socket and accepts one more
 * connection per turn. A process gets such copies the way cluster workers get theirs: over IPC,
 * here from a short-lived child that sends each one straight back.
 *
 * `backlog`: the one the server listens with. Returns the acceptors (close them to stop
 * accepting); rejects if the copies do not arrive, closing those that did.
 */
export async function addAcceptHandles(server: Server, count: number, backlog: number, onConnection: (socket: Socket) => void): Promise<Server[]> {
  const handle = (server as unknown as { _handle?: object | null })._handle;
  if (count <= 0 || !handle) return [];
  const child = spawn(process.execPath, ['-e', ECHO], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env: {} });
  const acceptors: Server[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`listening handles not copied within ${COPY_TIMEOUT_MS} ms`)), COPY_TIMEOUT_MS);
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        if (acceptors.length < count) reject(new Error(`the handle copier exited (${code}) after ${acceptors.length} of ${count} handles`));
      });
      child.on('message', (_message, copy) => {
        const acceptor = new Server({ noDelay: true });
        acceptor.on('connection', onConnection);
        // listen() again on the same socket sets its backlog: the server's own, not Node's default
        // 511. With a handle, net.Server.listen takes the backlog only as its second argument.
        acceptor.listen({ _handle: copy } as never, backlog);
        acceptors.push(acceptor);
        if (acceptors.length === count) {
          clearTimeout(timer);
          resolve();
        }
      });
      for (let i = 0; i < count; i++) child.send({ last: i === count - 1 }, handle as never);
    });
  } catch (error) {
    for (const acceptor of acceptors) acceptor.close();
    child.kill();
    throw error;
  }
  return acceptors;
}
