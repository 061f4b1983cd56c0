import { connect } from 'node:net';

/** What answers at an address, told apart by what comes over the wire. */
export type ProbeResult =
  | { state: 'answers' }
  | { state: 'nothing'; reason: string }
  | { state: 'foreign'; reason: string };

/** `needMore` asks for more bytes before deciding. */
type Verdict = ProbeResult | 'needMore';

export interface Address {
  host: string;
  port: number;
}

const PROBE_TIMEOUT_MS = 2000;

/** host and port of a mysql:// or redis:// URL; brackets of IPv6 literals are dropped for net.connect. */
export function addressOf(url: string, defaultPort: number): Address {
  const parsed = new URL(url);
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
  return { host, port: parsed.port ? Number(parsed.port) : defaultPort };
}

export function formatAddress(a: Address): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** A URL with its password hidden, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (!parsed.password) return url;
    parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}

/** A MySQL/MariaDB server greets first: no request is sent. */
export function probeMysql(address: Address): Promise<ProbeResult> {
  return probe(address, null, judgeMysqlGreeting);
}

/** Redis stays silent until asked, so ask with an inline PING. */
export function probeRedis(address: Address): Promise<ProbeResult> {
  return probe(address, 'PING\r\n', judgeRedisReply);
}

/**
 * The first packet of a MySQL server: a 4-byte header (3-byte length, sequence 0), then either a
 * handshake (0x0a + NUL-terminated version string) or an error packet (0xff), which MariaDB sends
 * e.g. for "Host is not allowed to connect" or "Too many connections": a server still answers.
 */
export function judgeMysqlGreeting(data: Buffer): Verdict {
  if (data.length < 5) return 'needMore';
  const length = data.readUIntLE(0, 3);
  const looksLikePacket = length > 0 && length < 1 << 16 && data[3] === 0;
  if (looksLikePacket && data[4] === 0xff) return { state: 'answers' };
  if (!looksLikePacket || data[4] !== 0x0a) return foreign(data);
  const end = data.indexOf(0, 5);
  if (end < 0) return data.length < 4 + length ? 'needMore' : foreign(data);
  const version = data.subarray(5, end).toString('latin1');
  return /^\d+\.\d+[\x20-\x7e]*$/.test(version) ? { state: 'answers' } : foreign(data);
}

/** `+PONG`, or any error line (`-NOAUTH`, `-ERR`, `-DENIED`, `-LOADING` …): Redis answers. */
export function judgeRedisReply(data: Buffer): Verdict {
  const lineEnd = data.indexOf('\r\n');
  if (lineEnd < 0) return data.length < 512 && /^[+-]/.test(data.toString('latin1')) ? 'needMore' : foreign(data);
  const line = data.subarray(0, lineEnd).toString('latin1');
  return line === '+PONG' || /^-[A-Z]+( |$)/.test(line) ? { state: 'answers' } : foreign(data);
}

function foreign(data: Buffer): ProbeResult {
  return { state: 'foreign', reason: `it answered ${JSON.stringify(printable(data))}` };
}

function printable(data: Buffer): string {
  const text = data.subarray(0, 60).toString('latin1').replace(/[^\x20-\x7e]/g, '.');
  return data.length > 60 ? `${text}…` : text;
}

/**
 * Connects, optionally sends `request`, and lets `judge` decide on the bytes received. A refused
 * or unreachable address is "nothing"; a connection that stays silent for 2 s or closes without
 * a verdict is "foreign": something holds the port but does not speak the protocol.
 */
function probe(address: Address, request: string | null, judge: (data: Buffer) => Verdict): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let received = Buffer.alloc(0);
    let connected = false;
    const socket = connect({ host: address.host, port: address.port });
    const finish = (result: ProbeResult): void => {
      clearTimeout(timer);
      socket.removeAllListeners();
      socket.on('error', () => undefined);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => {
      if (!connected) finish({ state: 'nothing', reason: 'the connection attempt timed out' });
      else if (received.length === 0) finish({ state: 'foreign', reason: 'it accepted the connection but said nothing for 2 s' });
      else finish(foreign(received));
    }, PROBE_TIMEOUT_MS);
    socket.on('connect', () => {
      connected = true;
      if (request !== null) socket.write(request);
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const verdict = judge(received);
      if (verdict !== 'needMore') finish(verdict);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (connected) finish({ state: 'foreign', reason: `the connection failed: ${err.code ?? err.message}` });
      else finish({ state: 'nothing', reason: err.code === 'ECONNREFUSED' ? 'connection refused' : (err.code ?? err.message) });
    });
    socket.on('close', () => {
      finish(received.length ? foreign(received) : { state: 'foreign', reason: 'it closed the connection without a greeting' });
    });
  });
}
