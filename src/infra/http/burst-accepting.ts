import type { Server } from 'node:net';

/** A turn that went on this long after accepting a connection leaves the next ones waiting: a burst. */
const BUSY_TURN_MS = 2;
/** While the further handles listen, how often it is checked whether they are still needed. */
const QUIET_CHECK_MS = 250;

/** The listening handle under a net.Server (libuv's stream calls, as Node's stream handles have them). */
interface ListeningHandle {
  readStart(): number;
  readStop(): number;
}

/**
 * Lets further listening handles (accept-handles.ts) accept only during a burst of new
 * connections. While they listen, every new connection makes all of them readable and all but one
 * find nothing to accept: about 4 µs of CPU per handle and connection here, so a client opening a
 * connection per request would pay over 100 µs more for each with 32 handles. So they are
 * stopped, and the server's own handle accepts alone, until a turn of the event loop that
 * accepted a connection ran long (BUSY_TURN_MS) or followed another turn that accepted one: then
 * more connections are likely waiting, and all handles accept until QUIET_CHECK_MS passes in
 * which no turn took more than one.
 *
 * Stopping a listening handle without closing it: uv_read_start then uv_read_stop take it off
 * the event loop's poll set (a listening handle is not otherwise read), uv_read_start puts it
 * back; accepting stays libuv's own (`test/hardening/accept-handles.test.ts` checks both).
 */
export class BurstAccepting {
  private listening = true;
  private acceptedThisTurn = 0;
  private firstAcceptAt = 0;
  private previousTurnAccepted = false;
  private turnCheckScheduled = false;
  private busiestTurn = 0;
  private quietCheck: NodeJS.Timeout | null = null;
  private stopped = false;

  /** `server`: the server all handles hand their connections to (its 'connection' event). */
  constructor(
    server: Server,
    private readonly acceptors: Server[],
  ) {
    // Without those calls (another runtime), the handles simply keep listening, as they did before.
    if (acceptors.length === 0 || !acceptors.every((acceptor) => typeof handleOf(acceptor)?.readStart === 'function' && typeof handleOf(acceptor)?.readStop === 'function')) return;
    this.pause();
    server.on('connection', () => this.accepted());
  }

  /** Whether the further handles accept now. */
  get accepting(): boolean {
    return this.listening;
  }

  /** No more switching (the acceptors are being closed). */
  stop(): void {
    this.stopped = true;
    if (this.quietCheck) clearInterval(this.quietCheck);
    this.quietCheck = null;
  }

  private accepted(): void {
    if (this.stopped) return;
    if (this.acceptedThisTurn++ === 0) this.firstAcceptAt = performance.now();
    this.scheduleTurnCheck();
  }

  /** Runs once after the poll phase of a turn that accepted (setImmediate: the same turn's check phase). */
  private scheduleTurnCheck(): void {
    if (this.turnCheckScheduled) return;
    this.turnCheckScheduled = true;
    setImmediate(() => this.endOfTurn());
  }

  private endOfTurn(): void {
    this.turnCheckScheduled = false;
    const accepted = this.acceptedThisTurn;
    this.acceptedThisTurn = 0;
    this.busiestTurn = Math.max(this.busiestTurn, accepted);
    if (accepted > 0 && !this.listening && !this.stopped) {
      const busy = performance.now() - this.firstAcceptAt >= BUSY_TURN_MS;
      if (busy || this.previousTurnAccepted) this.resume();
    }
    this.previousTurnAccepted = accepted > 0;
    // One more look at the next turn, to see whether it accepts too.
    if (accepted > 0) this.scheduleTurnCheck();
  }

  private resume(): void {
    for (const acceptor of this.acceptors) handleOf(acceptor)?.readStart();
    this.listening = true;
    this.busiestTurn = 0;
    this.quietCheck = setInterval(() => {
      if (this.busiestTurn <= 1) this.pause();
      this.busiestTurn = 0;
    }, QUIET_CHECK_MS);
    this.quietCheck.unref();
  }

  private pause(): void {
    if (this.quietCheck) clearInterval(this.quietCheck);
    this.quietCheck = null;
    for (const acceptor of this.acceptors) {
      const handle = handleOf(acceptor);
      if (!handle) continue;
      // uv_read_stop only acts on a handle that reads: start reading first (idempotent here).
      handle.readStart();
      handle.readStop();
    }
    this.listening = false;
  }
}

function handleOf(acceptor: Server): ListeningHandle | null {
  return (acceptor as unknown as { _handle?: ListeningHandle | null })._handle ?? null;
}
