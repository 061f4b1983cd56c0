import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { freemem, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import type { BinaryProvider, MariadbBinaries } from './binaries.js';
import { type Address, type ProbeResult, probeMysql, probeRedis } from './probe.js';
import { run, spawnDetached } from './processes.js';

/** One server this folder can run: where its files live and how to start it. */
export interface LocalServer {
  name: 'MariaDB' | 'Redis';
  variable: 'DATABASE_URL' | 'REDIS_URL';
  protocol: string;
  defaultPort: number;
  /** names in /proc/PID/comm that identify this server */
  programs: readonly string[];
  dir: string;
  pidFile: string;
  logFile: string;
  /** what to tell the user about where its data lives */
  dataNote: string;
  probe(address: Address): Promise<ProbeResult>;
  /** starts the server detached and returns its pid */
  start(address: Address, binaries: BinaryProvider): Promise<{ pid: number; origin: string }>;
  /** checks made once the server answers */
  afterStart(address: Address, binaries: BinaryProvider, url: string): Promise<void>;
}

export function stateDirOf(projectRoot: string): string {
  return join(projectRoot, '.local-services');
}

export function localServers(projectRoot: string): [LocalServer, LocalServer] {
  return [mariadbServer(stateDirOf(projectRoot)), redisServer(stateDirOf(projectRoot))];
}

/** mariadbd binds one address; `localhost` would be resolved, so give it the IPv4 loopback. */
function bindAddress(address: Address): string {
  return address.host === 'localhost' ? '127.0.0.1' : address.host;
}

function mariadbServer(stateDir: string): LocalServer {
  const dir = join(stateDir, 'mariadb');
  const dataDir = join(dir, 'data');
  const pidFile = join(dir, 'mariadbd.pid');
  const logFile = join(dir, 'mariadbd.log');
  return {
    name: 'MariaDB',
    variable: 'DATABASE_URL',
    protocol: 'MySQL',
    defaultPort: 3306,
    programs: ['mariadbd', 'mysqld'],
    dir,
    pidFile,
    logFile,
    dataNote: `data in ${dataDir}`,
    probe: probeMysql,
    async start(address, binaries) {
      const bin = await binaries.mariadb();
      mkdirSync(dir, { recursive: true });
      await initialiseDataDir(bin, dataDir);
      const args = [
        '--no-defaults', // must come first: ignore any /etc/mysql config of the machine
        `--basedir=${bin.basedir}`,
        `--datadir=${dataDir}`,
        ...(existsSync(join(bin.basedir, 'share/mysql')) ? [`--lc-messages-dir=${join(bin.basedir, 'share/mysql')}`] : []),
        `--socket=${socketPath(dir)}`,
        `--port=${address.port}`,
        `--bind-address=${bindAddress(address)}`,
        `--pid-file=${pidFile}`,
        `--log-error=${logFile}`,
        // as root, mariadbd refuses to start unless told which user to run as
        ...(process.getuid?.() === 0 ? ['--user=root'] : []),
        '--skip-name-resolve',
        ...mariadbTuning({ totalBytes: totalmem(), freeBytes: freemem() }),
        '--character-set-server=utf8mb4',
        '--collation-server=utf8mb4_unicode_ci',
        '--local-infile=1',
      ];
      const pid = spawnDetached(bin.server, args, logFile, bin.env);
      writeFileSync(pidFile, `${pid}\n`);
      return { pid, origin: bin.origin };
    },
    async afterStart(address, binaries, url) {
      await verifyRootLogin(address, binaries, url);
    },
  };
}

const MiB = 1024 * 1024;

/**
 * Settings of the local MariaDB, sized from the machine it starts on. The buffer pool is what
 * keeps big lists fast: a 10,000,000-code list's indexes are about 1 GiB, and once they outgrow
 * the pool every insert and lookup waits for a random page read. So the pool gets a quarter of
 * the memory free at start (the service, tests and other programs need the rest), at least
 * 256 MiB and at most 4 GiB, a dev/test box's share. The redo log is a quarter of the pool (at
 * least 256 MiB, at most 1 GiB): a bulk load writes gigabytes, and a small redo log forces
 * checkpoints (synchronous page flushes) every few seconds. Commits are flushed once a second
 * (a crash may lose the last second, fine for development), no binlog, room for parallel tests.
 */
export function mariadbTuning(memory: { totalBytes: number; freeBytes: number }): string[] {
  const free = Math.min(memory.freeBytes, memory.totalBytes);
  const pool = Math.max(256, Math.min(4096, Math.floor(free / 4 / MiB / 128) * 128));
  const redo = Math.max(256, Math.min(1024, Math.floor(pool / 4)));
  return [
    `--innodb-buffer-pool-size=${pool}M`,
    `--innodb-log-file-size=${redo}M`,
    '--innodb-log-buffer-size=64M',
    '--innodb-flush-log-at-trx-commit=2',
    '--innodb-io-capacity=2000',
    '--max-connections=500',
    '--skip-log-bin',
  ];
}

/**
 * Runs mariadb-install-db once. Root gets an empty password for TCP logins from 127.0.0.1
 * (`normal` auth, not unix_socket). Done in a staging folder, renamed when complete.
 */
async function initialiseDataDir(bin: MariadbBinaries, dataDir: string): Promise<void> {
  if (existsSync(dataDir)) return;
  const staging = `${dataDir}.partial`;
  rmSync(staging, { recursive: true, force: true });
  const result = await run(
    bin.installDb,
    [
      '--no-defaults',
      `--basedir=${bin.basedir}`,
      `--datadir=${staging}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      '--skip-name-resolve',
      ...(process.getuid?.() === 0 ? ['--user=root'] : []),
    ],
    { env: bin.env },
  );
  if (!result.ok) throw new Error(`mariadb-install-db failed:\n${result.output}`);
  renameSync(staging, dataDir);
}

/**
 * mariadbd aborts when its socket path is longer than 107 bytes (sun_path), which a deep project
 * folder reaches easily: then use a short path in the temp folder, unique per project folder.
 */
function socketPath(dir: string): string {
  const inProject = join(dir, 'mariadbd.sock');
  if (Buffer.byteLength(inProject) <= 100) return inProject;
  const hash = createHash('sha256').update(dir).digest('hex').slice(0, 12);
  return join(tmpdir(), `mariadbd-${hash}.sock`);
}

/**
 * The service connects as root over TCP without a password; make sure that works, and create
 * the database the URL names so that the first connection does not fail with "Unknown database".
 */
async function verifyRootLogin(address: Address, binaries: BinaryProvider, url: string): Promise<void> {
  const bin = await binaries.mariadb();
  if (!bin.client) return;
  const database = decodeURIComponent(new URL(url).pathname.slice(1));
  const sql = /^[A-Za-z0-9_$]+$/.test(database) ? `CREATE DATABASE IF NOT EXISTS \`${database}\`` : 'SELECT 1';
  const args = ['--no-defaults', '--protocol=TCP', `--host=${bindAddress(address)}`, `--port=${address.port}`, '--user=root', '-e', sql];
  const result = await run(bin.client, args, { env: bin.env });
  if (!result.ok) throw new Error(`MariaDB started, but root cannot log in over TCP without a password: ${result.output}`);
}

function redisServer(stateDir: string): LocalServer {
  const dir = join(stateDir, 'redis');
  const pidFile = join(dir, 'redis.pid');
  const logFile = join(dir, 'redis.log');
  return {
    name: 'Redis',
    variable: 'REDIS_URL',
    protocol: 'Redis',
    defaultPort: 6379,
    programs: ['redis-server'],
    dir,
    pidFile,
    logFile,
    dataNote: 'in memory only',
    probe: probeRedis,
    async start(address, binaries) {
      const bin = await binaries.redis();
      mkdirSync(dir, { recursive: true });
      // No persistence: a dev/test cache. Note that redis-server exits 0 when the port is taken,
      // so success is only ever judged by probing.
      const args = ['--bind', bindAddress(address), '--port', String(address.port), '--save', '', '--appendonly', 'no'];
      args.push('--daemonize', 'no', '--pidfile', pidFile, '--dir', dir);
      const pid = spawnDetached(bin.server, args, logFile, bin.env);
      writeFileSync(pidFile, `${pid}\n`);
      return { pid, origin: bin.origin };
    },
    async afterStart() {},
  };
}
