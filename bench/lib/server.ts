import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import { once } from 'node:events';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL } from '../../src/config/config.js';
import { parseDatabaseUrl, withDatabaseName } from '../../src/config/database-url.js';

export const BENCH_ADMIN_KEY = 'bench-admin-key-0123456789abcdef';
export const PROJECT_ROOT = join(__dirname, '..', '..', '..');

export interface BenchServer {
  url: string;
  pid: number;
  databaseUrl: string;
  redisUrl: string;
  queuePrefix: string;
  /** Peak resident memory of the server process so far (VmHWM), in MiB. */
  peakRssMiB(): number;
  /** Current resident memory (VmRSS), in MiB. */
  rssMiB(): number;
  stop(): Promise<void>;
}

/**
 * `npm start`'s command line after `node` (its V8 flags, then the script), read from
 * package.json: every process a benchmark starts runs with the flags a deployment gets.
 */
export const START_ARGS: string[] = (() => {
  const start = String(JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')).scripts.start);
  const [command, ...args] = start.trim().split(/\s+/);
  if (command !== 'node' || !args.at(-1)?.endsWith('.js')) throw new Error(`npm start is not "node [flags] <script>.js": ${start}`);
  return args.map((arg, index) => (index === args.length - 1 ? join(PROJECT_ROOT, arg) : arg));
})();

/** A port that nothing listens on right now, for the server started next. */
async function portNobodyListensOn(): Promise<number> {
  const probe = createNetServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  probe.close();
  await once(probe, 'close');
  return port;
}

export function benchDatabaseUrl(name: string): string {
  return withDatabaseName(process.env.DATABASE_URL || DEFAULT_DATABASE_URL, `coupons_bench_${name}_${randomBytes(3).toString('hex')}`);
}

function statusField(pid: number, field: string): number {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  return match ? Number(match[1]) / 1024 : 0;
}

/**
 * Starts `dist/src/main.js` as `npm start` does (START_ARGS) as a separate process
 * with its own database, waits until /health/ready answers.
 */
export async function startBenchServer(options: { env?: Record<string, string>; databaseUrl?: string; queuePrefix?: string; port?: number } = {}): Promise<BenchServer> {
  // The kernel's pick: a fixed range met the local Galera nodes' group ports (4567-4588) now and then.
  const port = options.port ?? (await portNobodyListensOn());
  const databaseUrl = options.databaseUrl ?? benchDatabaseUrl('db');
  const redisUrl = process.env.REDIS_URL || DEFAULT_REDIS_URL;
  const queuePrefix = options.queuePrefix ?? `bench-${randomBytes(3).toString('hex')}`;
  // BENCH_CPU_PROF_DIR: every server writes a V8 CPU profile there when it stops (where did the time go?).
  const profile = process.env.BENCH_CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF_DIR}`] : [];
  const child: ChildProcess = spawn(process.execPath, [...profile, ...START_ARGS], {
    cwd: PROJECT_ROOT,
    env: {
      ...process.env,
      NODE_ENV: 'production',
      PORT: String(port),
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl,
      ADMIN_API_KEY: BENCH_ADMIN_KEY,
      QUEUE_PREFIX: queuePrefix,
      LOG_LEVEL: 'warn',
      ...options.env,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`bench server exited with code ${child.exitCode}`);
    const ready = await fetch(`${url}/health/ready`).then((r) => r.ok, () => false);
    if (ready) break;
    if (Date.now() > deadline) throw new Error('bench server did not become ready within 60 s');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const pid = child.pid!;
  return {
    url,
    pid,
    databaseUrl,
    redisUrl,
    queuePrefix,
    peakRssMiB: () => statusField(pid, 'VmHWM'),
    rssMiB: () => statusField(pid, 'VmRSS'),
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

export async function dropBenchDatabase(databaseUrl: string): Promise<void> {
  const { database, ...server } = parseDatabaseUrl(databaseUrl);
  const connection = await mysql.createConnection(server);
  await connection.query(`DROP DATABASE IF EXISTS \`${database}\``).finally(() => connection.end());
}

/** POSTs a GraphQL operation with the bench admin key (or another key). */
export async function benchGraphQL<T = any>(url: string, query: string, variables: Record<string, unknown> = {}, key = BENCH_ADMIN_KEY): Promise<T> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: T; errors?: unknown[] };
  if (body.errors) throw new Error(`GraphQL error: ${JSON.stringify(body.errors)}`);
  return body.data as T;
}

/** Prints one result line and returns it for the summary. */
export function report(scenario: string, figures: Record<string, string | number | boolean>): string {
  const line = `${scenario}: ${Object.entries(figures).map(([k, v]) => `${k}=${typeof v === 'number' ? Number(v.toFixed(3)) : v}`).join(' ')}`;
  console.log(line);
  return line;
}

/** Resolves once a `ROLE=worker` process (stdout piped) logs that its job workers started. */
export function workerStarted(child: ChildProcess): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('worker did not start within 60 s')), 60_000);
    let seen = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      seen = (seen + chunk.toString('utf8')).slice(-4096);
      if (seen.includes('job workers started')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`worker exited with code ${code}`)));
  });
}

/**
 * A second process of the same deployment with ROLE=worker (no HTTP port), at CPU priority
 * `nice` (background jobs below interactive requests on a shared host); ready once its workers run.
 */
export async function startBenchWorker(server: BenchServer, env: Record<string, string>, nice = 0): Promise<{ pid: number; stop(): Promise<void> }> {
  const child = spawn(process.execPath, START_ARGS, {
    cwd: PROJECT_ROOT,
    env: {
      ...process.env,
      NODE_ENV: 'production',
      DATABASE_URL: server.databaseUrl,
      REDIS_URL: server.redisUrl,
      QUEUE_PREFIX: server.queuePrefix,
      ADMIN_API_KEY: BENCH_ADMIN_KEY,
      LOG_LEVEL: 'info',
      ...env,
      ROLE: 'worker',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (nice > 0) setPriority(child.pid!, nice);
  await workerStarted(child);
  return {
    pid: child.pid!,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
