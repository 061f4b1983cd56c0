import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BinaryProvider } from './binaries.js';
import { type Address, type ProbeResult, addressOf, formatAddress, redactUrl } from './probe.js';
import { isAlive, liveServerPid, readPid, sleep, tail, terminate, withLock } from './processes.js';
import { type LocalServer, localServers, stateDirOf } from './servers.js';
import type { LocalServicesLogger } from './services-logger.js';

export type { LocalServicesLogger } from './services-logger.js';

export interface EnsureLocalServicesOptions {
  /** e.g. mysql://root@127.0.0.1:3306/coupons */
  databaseUrl: string;
  /** e.g. redis://127.0.0.1:6379 */
  redisUrl: string;
  /** true only when DATABASE_URL was left at its default */
  startDatabaseIfMissing: boolean;
  /** true only when REDIS_URL was left at its default */
  startRedisIfMissing: boolean;
  /** folder holding package.json; state goes to <projectRoot>/.local-services (git-ignored) */
  projectRoot: string;
  logger: LocalServicesLogger;
}

/** One server as asked for by the options. */
interface Target {
  server: LocalServer;
  url: string;
  address: Address;
  startAllowed: boolean;
}

const START_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 20_000;

/**
 * Makes sure a MySQL server answers at databaseUrl and a Redis at redisUrl, starting local ones
 * (only on a loopback address, and only where allowed) when nothing answers there.
 */
export async function ensureLocalServices(opts: EnsureLocalServicesOptions): Promise<void> {
  const [mariadb, redis] = localServers(opts.projectRoot);
  // Several hosts, Sentinels or a Redis Cluster: the service's own connections find them; nothing to probe or start here.
  const targets: Target[] = [
    target(mariadb, opts.databaseUrl, opts.startDatabaseIfMissing),
    target(redis, opts.redisUrl, opts.startRedisIfMissing),
  ].filter((t) => !isClusterUrl(t.url));
  if (targets.length === 0) return;
  const results = await Promise.all(targets.map((t) => t.server.probe(t.address)));
  const problems: string[] = [];
  const toStart = targets.filter((t, i) => needsStart(t, results[i] as ProbeResult, problems, opts.logger));
  if (problems.length) throw new Error(problems.join('\n'));
  if (toStart.length === 0) return;

  const stateDir = stateDirOf(opts.projectRoot);
  mkdirSync(stateDir, { recursive: true });
  const onWait = (holder: number): void => opts.logger.info(`Waiting for process ${holder}, which holds ${join(stateDir, 'lock')}`);
  await withLock(join(stateDir, 'lock'), onWait, async () => {
    const binaries = new BinaryProvider(stateDir, opts.logger);
    const outcomes = await Promise.allSettled(toStart.map((t) => startUnlessAnswering(t, binaries, opts.logger)));
    const failures = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason instanceof Error ? o.reason.message : String(o.reason)] : []));
    if (failures.length) throw new Error(failures.join('\n'));
  });
}

function target(server: LocalServer, url: string, startAllowed: boolean): Target {
  return { server, url, address: isClusterUrl(url) ? { host: '', port: 0 } : addressOf(url, server.defaultPort), startAllowed };
}

function isClusterUrl(url: string): boolean {
  return /^redis-(sentinel|cluster):/i.test(url) || /^[a-z]+:\/\/[^/]*,/i.test(url);
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Sorts a first probe result into "use it", "start one" (true) or a problem to report. */
function needsStart(t: Target, result: ProbeResult, problems: string[], logger: LocalServicesLogger): boolean {
  const { name, variable, protocol } = t.server;
  const where = formatAddress(t.address);
  if (result.state === 'answers') {
    logger.info(`${name}: a ${protocol} server already answers at ${where} (${variable}); using it.`);
    return false;
  }
  if (result.state === 'foreign') {
    problems.push(foreignMessage(t, result.reason));
    return false;
  }
  if (!t.startAllowed || !isLoopback(t.address.host)) {
    const hint = t.startAllowed ? `A local ${name} can only be started on a loopback address` : `Start that server, or unset ${variable} to let the service start a local ${name}`;
    const detail = result.reason === 'connection refused' ? '' : ` (${result.reason})`;
    problems.push(`Nothing answers at ${variable}=${redactUrl(t.url)}. ${hint}${detail}`);
    return false;
  }
  return true;
}

function foreignMessage(t: Target, reason: string): string {
  const { variable, protocol } = t.server;
  return (
    `Something that is not a ${protocol} server holds ${formatAddress(t.address)} (${variable}=${redactUrl(t.url)}): ${reason}. ` +
    `Stop it, or point ${variable} at a ${protocol} server.`
  );
}

/**
 * Under the lock: probe again (another process may have started the server while we waited),
 * adopt a server this folder started that is still coming up, else start one and wait for it.
 */
async function startUnlessAnswering(t: Target, binaries: BinaryProvider, logger: LocalServicesLogger): Promise<void> {
  const { server } = t;
  const where = formatAddress(t.address);
  const again = await server.probe(t.address);
  if (again.state === 'answers') {
    logger.info(`${server.name}: answers at ${where} now (started by another process); using it.`);
    return;
  }
  if (again.state === 'foreign') throw new Error(foreignMessage(t, again.reason));
  if (await adoptedStartingServer(t, logger)) return;

  const began = Date.now();
  rmSync(join(server.dir, 'address'), { force: true });
  const { pid, origin } = await server.start(t.address, binaries);
  const outcome = await waitForServer(t, pid);
  if (outcome !== 'answers') throw new Error(startFailure(t, pid, outcome));
  await server.afterStart(t.address, binaries, t.url);
  writeFileSync(join(server.dir, 'address'), `${where}\n`);
  const seconds = ((Date.now() - began) / 1000).toFixed(1);
  logger.info(
    `${server.name}: started a local server (${origin}) at ${where}, pid ${pid}, answering after ${seconds} s; ` +
      `${server.dataNote}, log in ${server.logFile}. Stop it with \`npm run services:down\`.`,
  );
}

/**
 * A live server from this folder that does not answer yet (e.g. still recovering after its
 * starter was killed) must not get a twin: a second mariadbd on the same datadir waits 30 s and
 * dies. Wait for it instead. A pid file left by `kill -9` is simply ignored.
 */
async function adoptedStartingServer(t: Target, logger: LocalServicesLogger): Promise<boolean> {
  const pid = liveServerPid(t.server.pidFile, t.server.programs);
  if (pid === null) return false;
  const recorded = tail(join(t.server.dir, 'address'), 1);
  if (recorded !== formatAddress(t.address) && /^\S+:\d+$/.test(recorded)) {
    throw new Error(
      `${t.server.name} pid ${pid}, started from this folder, serves ${recorded}, not ${formatAddress(t.address)} (${t.server.variable}). ` +
        'Stop it with `npm run services:down` first.',
    );
  }
  logger.info(`${t.server.name}: pid ${pid}, started from this folder, is running; waiting for it to answer at ${formatAddress(t.address)}`);
  const outcome = await waitForServer(t, pid);
  if (outcome === 'answers') return true;
  if (outcome === 'exited') return false;
  throw new Error(`${t.server.name} pid ${pid}, started from this folder, runs but does not answer at ${formatAddress(t.address)}. Stop it with \`npm run services:down\`. Its log:\n${tail(t.server.logFile)}`);
}

async function waitForServer(t: Target, pid: number): Promise<'answers' | 'exited' | 'timeout'> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const alive = isAlive(pid);
    if ((await t.server.probe(t.address)).state === 'answers') return 'answers';
    if (!alive) return 'exited';
    if (Date.now() > deadline) return 'timeout';
    await sleep(200);
  }
}

function startFailure(t: Target, pid: number, outcome: 'exited' | 'timeout'): string {
  const what = outcome === 'exited' ? `exited before answering` : `did not answer within ${START_TIMEOUT_MS / 1000} s`;
  return `${t.server.name} (pid ${pid}) started for ${t.server.variable} ${what} at ${formatAddress(t.address)}. Last lines of ${t.server.logFile}:\n${tail(t.server.logFile)}`;
}

/** Stops the servers this folder started (by their pid files); fine when none runs. */
export async function stopLocalServices(projectRoot: string, logger: LocalServicesLogger): Promise<void> {
  const stateDir = stateDirOf(projectRoot);
  if (!existsSync(stateDir)) {
    logger.info('No local servers were started from this folder.');
    return;
  }
  const onWait = (holder: number): void => logger.info(`Waiting for process ${holder}, which holds ${join(stateDir, 'lock')}`);
  await withLock(join(stateDir, 'lock'), onWait, async () => {
    await Promise.all(localServers(projectRoot).map((server) => stopOne(server, logger)));
  });
}

async function stopOne(server: LocalServer, logger: LocalServicesLogger): Promise<void> {
  const pid = liveServerPid(server.pidFile, server.programs);
  if (pid === null) {
    logger.info(`${server.name}: none started from this folder is running.`);
    rmSync(server.pidFile, { force: true });
    return;
  }
  const how = await terminate(pid, STOP_GRACE_MS);
  rmSync(server.pidFile, { force: true });
  logger.info(`${server.name}: ${how === 'stopped' ? 'stopped' : 'killed (it ignored SIGTERM for 20 s)'} pid ${pid}.`);
}

/** One line per server: running or not, its pid, whether it answers, where its files are. */
export async function localServicesStatus(projectRoot: string): Promise<string> {
  const lines = await Promise.all(localServers(projectRoot).map((server) => statusLine(server)));
  return lines.join('\n');
}

async function statusLine(server: LocalServer): Promise<string> {
  const pid = liveServerPid(server.pidFile, server.programs);
  const stalePid = pid === null ? readPid(server.pidFile) : null;
  if (pid === null) {
    return `${server.name}: not running from this folder${stalePid !== null ? ` (stale pid file for ${stalePid})` : ''}.`;
  }
  const recorded = tail(join(server.dir, 'address'), 1);
  const address = /^\S+:\d+$/.test(recorded) ? addressOf(`x://${recorded}`, server.defaultPort) : null;
  const answer = address ? ((await server.probe(address)).state === 'answers' ? `answers at ${formatAddress(address)}` : `does not answer at ${formatAddress(address)}`) : 'address unknown';
  return `${server.name}: running, pid ${pid}, ${answer}; ${server.dataNote}, log in ${server.logFile}.`;
}
