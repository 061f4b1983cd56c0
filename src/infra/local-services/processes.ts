import { execFile, spawn } from 'node:child_process';
import { closeSync, linkSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Whether `pid` is a live process. `kill -0` is not enough: a server killed with -9 whose parent
 * has not reaped it yet is a zombie that still "exists", so read its state from /proc instead.
 */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/**
 * The program name of a live process, from /proc/PID/comm: redis-server rewrites its command line
 * ("redis-server 127.0.0.1:6379"), but not its comm.
 */
export function programOf(pid: number): string | null {
  if (!isAlive(pid)) return null;
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return null;
  }
}

export function readPid(file: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/**
 * The pid in `file` if it is a live process running one of `programs`. A pid file left behind
 * by `kill -9`, or whose pid now belongs to another program, counts as no server.
 */
export function liveServerPid(file: string, programs: readonly string[]): number | null {
  const pid = readPid(file);
  const program = pid === null ? null : programOf(pid);
  return pid !== null && program !== null && programs.includes(program) ? pid : null;
}

/**
 * Starts a server that outlives this process: its own session (detached), output appended to
 * `logFile`, and unref'd so that a CLI or a jest worker can exit while it keeps running.
 */
export function spawnDetached(command: string, args: string[], logFile: string, env: NodeJS.ProcessEnv): number {
  const log = openSync(logFile, 'a');
  try {
    const child = spawn(command, args, { detached: true, stdio: ['ignore', log, log], env });
    child.on('error', () => undefined); // reported through the wait that follows
    child.unref();
    if (child.pid === undefined) throw new Error(`Could not start ${command}`);
    return child.pid;
  } finally {
    closeSync(log);
  }
}

/** SIGTERM, then SIGKILL if the process is still alive after `graceMs`. */
export async function terminate(pid: number, graceMs: number): Promise<'stopped' | 'killed'> {
  signal(pid, 'SIGTERM');
  if (await waitForExit(pid, graceMs)) return 'stopped';
  signal(pid, 'SIGKILL');
  await waitForExit(pid, 5000);
  return 'killed';
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
  return true;
}

export interface CommandResult {
  ok: boolean;
  output: string;
}

/** Runs a command to completion; never throws, the caller decides what a failure means. */
export function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(command, args, { ...options, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ ok: !error, output: `${stdout}${stderr}`.trim() || (error ? error.message : '') });
    });
  });
}

/** The last lines of a log file, for error messages. */
export function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log written)';
  }
}

const LOCK_WAIT_MS = 180_000;

/**
 * Runs `fn` while holding an exclusive lock file (O_EXCL, holding our pid), so that two processes
 * starting at once do not both start a server. A lock whose pid is dead is stale and taken over.
 */
export async function withLock<T>(lockFile: string, onWait: (holder: number) => void, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  let told = false;
  while (!tryCreateLock(lockFile)) {
    const holder = readPid(lockFile);
    if (holder !== null && !isAlive(holder)) removeStaleLock(lockFile, holder);
    else if (holder === null && ageMs(lockFile) > 5000) removeStaleLock(lockFile, null);
    if (Date.now() > deadline) throw new Error(`Gave up waiting for ${lockFile} (held by pid ${holder ?? '?'})`);
    if (holder !== null && !told && isAlive(holder)) {
      onWait(holder);
      told = true;
    }
    await sleep(200);
  }
  try {
    return await fn();
  } finally {
    if (readPid(lockFile) === process.pid) unlinkSync(lockFile);
  }
}

function tryCreateLock(lockFile: string): boolean {
  try {
    const fd = openSync(lockFile, 'wx');
    writeSync(fd, `${process.pid}\n`);
    closeSync(fd);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

/**
 * Removes a stale lock without removing a fresh one that another waiter created in the meantime:
 * move it aside first, and put it back if it turns out not to be the stale one.
 */
function removeStaleLock(lockFile: string, stalePid: number | null): void {
  const aside = `${lockFile}.${process.pid}.stale`;
  try {
    renameSync(lockFile, aside);
  } catch {
    return; // someone else moved it
  }
  if (readPid(aside) !== stalePid) {
    try {
      linkSync(aside, lockFile);
    } catch {
      // a newer lock exists already; it stands
    }
  }
  unlinkSync(aside);
}

function ageMs(file: string): number {
  try {
    return Date.now() - statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}
