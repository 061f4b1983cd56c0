import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { freemem, totalmem } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { Redis } from 'ioredis';
import { clusterBinaries, type ClusterBinaries } from './binaries.js';
import type { LocalServicesLogger } from './local-services.js';
import { isAlive, readPid, run, sleep, spawnDetached, tail, terminate, withLock } from './processes.js';
import { mariadbTuning } from './servers.js';

/**
 * A local high-availability set on 127.0.0.1, for tests and for trying failover by hand:
 * a 3-node MariaDB Galera cluster, a Redis primary with one replica watched by 3 Sentinels,
 * and a 3-node Redis Cluster. Everything from Debian's packages, unpacked under
 * `.local-services/cluster-root`; data under `.local-services/cluster`.
 */
export const GALERA_NODES = [
  { port: 3311, gcomm: 4567, sst: 4444 },
  { port: 3312, gcomm: 4577, sst: 4454 },
  { port: 3313, gcomm: 4587, sst: 4464 },
] as const;
export const REDIS_PRIMARY_PORT = 6390;
export const REDIS_REPLICA_PORT = 6391;
export const SENTINEL_PORTS = [26390, 26391, 26392] as const;
export const REDIS_CLUSTER_PORTS = [7000, 7001, 7002] as const;
export const SENTINEL_MASTER = 'coupons';

export interface ClusterUrls {
  /** All three Galera nodes, node 1 first. */
  DATABASE_URL: string;
  /** The Sentinel group. */
  REDIS_URL: string;
  REDIS_CLUSTER_URL: string;
}

export const CLUSTER_URLS: ClusterUrls = {
  DATABASE_URL: `mysql://root@${GALERA_NODES.map((node) => `127.0.0.1:${node.port}`).join(',')}/coupons`,
  REDIS_URL: `redis-sentinel://${SENTINEL_PORTS.map((port) => `127.0.0.1:${port}`).join(',')}/${SENTINEL_MASTER}`,
  REDIS_CLUSTER_URL: `redis-cluster://${REDIS_CLUSTER_PORTS.map((port) => `127.0.0.1:${port}`).join(',')}`,
};

/** One node's URL (a process writing through that node only first). */
export function galeraUrlPreferring(node: number, database = 'coupons'): string {
  const order = [node, ...GALERA_NODES.map((_, i) => i).filter((i) => i !== node)];
  return `mysql://root@${order.map((i) => `127.0.0.1:${GALERA_NODES[i].port}`).join(',')}/${database}`;
}

const RUN_AS = 'mysql';

/** Controls the local cluster of one project folder. */
export class LocalCluster {
  readonly dir: string;
  private binaries: ClusterBinaries | null = null;
  private readonly startPositions = new Map<number, string | null>();

  constructor(
    private readonly stateDir: string,
    private readonly logger: LocalServicesLogger,
  ) {
    this.dir = join(stateDir, 'cluster');
  }

  private async bin(): Promise<ClusterBinaries> {
    this.binaries ??= await clusterBinaries(this.stateDir, this.logger);
    return this.binaries;
  }

  private nodeDir(node: number): string {
    return join(this.dir, `galera${node + 1}`);
  }

  /** Whether any server of the set runs. */
  isRunning(): boolean {
    const pidFiles = [
      ...readdirIfExists(this.dir).filter((name) => name.startsWith('redis')).map((name) => join(this.dir, name, 'pid')),
      ...GALERA_NODES.map((_, node) => join(this.nodeDir(node), 'mariadbd.pid')),
    ];
    return pidFiles.some((file) => {
      const pid = readPid(file);
      return pid !== null && isAlive(pid);
    });
  }

  /**
   * Brings up whatever part of the set is not running; returns the URLs. With `fresh`, a set of
   * which nothing runs starts over from empty data (decided under the start lock, so a second
   * caller starting at the same moment waits and then finds it running).
   */
  async up(options: { fresh?: boolean } = {}): Promise<ClusterUrls> {
    mkdirSync(this.dir, { recursive: true });
    return withLock(join(this.dir, 'up.lock'), (holder) => this.logger.info(`waiting for process ${holder}, which is starting the cluster`), async () => {
      if (options.fresh && !this.isRunning()) {
        // A server whose pid file went missing would lose its data under it: stop it first.
        for (const pid of this.serversWithoutPidFile()) await terminate(pid, 30_000);
        for (const name of readdirIfExists(this.dir)) if (name !== 'up.lock') rmSync(join(this.dir, name), { recursive: true, force: true });
      }
      await this.bin();
      await this.startGalera();
      await this.startSentinelGroup();
      await this.startRedisCluster();
      writeFileSync(join(this.dir, 'urls.json'), `${JSON.stringify(CLUSTER_URLS, null, 2)}\n`);
      this.logger.info(`Cluster ready:\n  DATABASE_URL=${CLUSTER_URLS.DATABASE_URL}\n  REDIS_URL=${CLUSTER_URLS.REDIS_URL}\n  (Redis Cluster: ${CLUSTER_URLS.REDIS_CLUSTER_URL}, QUEUE_PREFIX={coupons})`);
      return CLUSTER_URLS;
    });
  }

  /** Servers whose command line names this folder (found in /proc, pid files or not). */
  private serversWithoutPidFile(): number[] {
    const marker = `${this.dir}/`;
    return readdirIfExists('/proc')
      .filter((name) => /^\d+$/.test(name) && Number(name) !== process.pid)
      .filter((name) => {
        try {
          return readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(marker) && isAlive(Number(name));
        } catch {
          return false;
        }
      })
      .map(Number);
  }

  /** Stops everything this folder's cluster runs (Galera node 1 last, so that it can bootstrap next time). */
  async down(): Promise<void> {
    const pids = [
      ...readdirIfExists(this.dir).filter((name) => name.startsWith('redis')).map((name) => join(this.dir, name, 'pid')),
      ...[2, 1, 0].map((node) => join(this.nodeDir(node), 'mariadbd.pid')),
    ];
    for (const file of pids) {
      const pid = readPid(file);
      if (pid !== null && isAlive(pid)) {
        await terminate(pid, 30_000);
        this.logger.info(`stopped ${file.replace(`${this.dir}/`, '')} (pid ${pid})`);
      }
      rmSync(file, { force: true });
    }
  }

  // ---------- Galera ----------

  private config(node: number, bin: ClusterBinaries): string {
    const dir = this.nodeDir(node);
    const { port, gcomm, sst } = GALERA_NODES[node];
    const lines = [
      '[mysqld]',
      ...(process.getuid?.() === 0 ? [`user=${RUN_AS}`] : []),
      `basedir=${bin.basedir}`,
      `datadir=${join(dir, 'data')}`,
      `lc-messages-dir=${join(bin.basedir, 'share/mysql')}`,
      `port=${port}`,
      `socket=${join(dir, 'mariadbd.sock')}`,
      `pid-file=${join(dir, 'mariadbd.pid')}`,
      `log-error=${join(dir, 'mariadbd.log')}`,
      'bind-address=127.0.0.1',
      'skip-name-resolve',
      'local-infile=1',
      // The single local MariaDB's settings (buffer pool, redo log, flush once a second, no
      // binlog), sized for one of three nodes on this machine, so that the two compare fairly.
      ...mariadbTuning({ totalBytes: totalmem(), freeBytes: freemem() / GALERA_NODES.length }).map((arg) => arg.replace(/^--/, '')),
      'binlog_format=ROW',
      'innodb_autoinc_lock_mode=2',
      'wsrep_on=ON',
      `wsrep_provider=${bin.provider}`,
      'wsrep_cluster_name=coupons-local',
      `wsrep_cluster_address=gcomm://${GALERA_NODES.map((n) => `127.0.0.1:${n.gcomm}`).join(',')}`,
      `wsrep_node_address=127.0.0.1:${gcomm}`,
      `wsrep_node_name=node${node + 1}`,
      `wsrep_provider_options="base_host=127.0.0.1;base_port=${gcomm};gmcast.listen_addr=tcp://127.0.0.1:${gcomm};ist.recv_addr=127.0.0.1:${gcomm + 1};gcache.size=256M"`,
      'wsrep_sst_method=rsync',
      `wsrep_sst_receive_address=127.0.0.1:${sst}`,
      '',
    ];
    const file = join(dir, 'my.cnf');
    writeFileSync(file, lines.join('\n'));
    return file;
  }

  /** The pid of a running Galera node, or null. */
  nodePid(node: number): number | null {
    return this.pid(node);
  }

  private pid(node: number): number | null {
    const pid = readPid(join(this.nodeDir(node), 'mariadbd.pid'));
    return pid !== null && isAlive(pid) ? pid : null;
  }

  private async startGalera(): Promise<void> {
    const bin = await this.bin();
    const running = GALERA_NODES.map((_, node) => this.pid(node) !== null);
    if (running.every(Boolean)) return;
    if (process.getuid?.() === 0) ensureSystemUser(RUN_AS);
    const first = running.findIndex(Boolean);
    if (first === -1) {
      // Nobody runs: node 1 founds the cluster (initialised if new; told it may bootstrap).
      const dir = this.nodeDir(0);
      const cnf = this.prepareNode(0, bin);
      if (!existsSync(join(dir, 'data', 'mysql'))) {
        const installed = await run(bin.installDb, [`--defaults-file=${cnf}`, `--basedir=${bin.basedir}`, '--auth-root-authentication-method=normal', '--skip-test-db'], { env: bin.env });
        if (!installed.ok) throw new Error(`mariadb-install-db failed:\n${installed.output}`);
        this.own(dir);
      }
      const grastate = join(dir, 'data', 'grastate.dat');
      if (existsSync(grastate)) writeFileSync(grastate, readFileSync(grastate, 'utf8').replace(/safe_to_bootstrap:\s*0/, 'safe_to_bootstrap: 1'));
      await this.launch(0, ['--wsrep-new-cluster']);
    }
    for (let node = 0; node < GALERA_NODES.length; node++) {
      if (this.pid(node) === null) await this.startNode(node);
    }
    await this.waitForGalera(GALERA_NODES.map((_, i) => i), 60_000);
  }

  private prepareNode(node: number, bin: ClusterBinaries): string {
    const dir = this.nodeDir(node);
    mkdirSync(join(dir, 'data'), { recursive: true });
    const cnf = this.config(node, bin);
    this.own(dir);
    return cnf;
  }

  /** Starts a stopped node so that it joins the running cluster: by IST when its data allows (position recovered first), else by SST. */
  async startNode(node: number): Promise<void> {
    const bin = await this.bin();
    const cnf = this.prepareNode(node, bin);
    const args: string[] = [];
    if (existsSync(join(this.nodeDir(node), 'data', 'mysql'))) {
      // After a SIGKILL the node does not know its last position: recover it, then ask the cluster for the rest (IST).
      // Both logs start empty: a position left in them by an earlier recovery would be read as this one's.
      rmSync(join(this.nodeDir(node), 'data', 'wsrep_recovery.log'), { force: true });
      rmSync(join(this.nodeDir(node), 'recover.log'), { force: true });
      const recovered = await run(bin.mariadbd, [`--defaults-file=${cnf}`, '--wsrep-recover', `--log-error=${join(this.nodeDir(node), 'recover.log')}`], { env: bin.env });
      const position = /Recovered position:\s*(\S+)/.exec(`${recovered.output}\n${tail(join(this.nodeDir(node), 'recover.log'), 50)}`)?.[1];
      if (position && !position.endsWith(':-1')) args.push(`--wsrep_start_position=${position}`);
      this.startPositions.set(node, position ?? null);
    }
    await this.launch(node, args);
    await this.waitForGalera([node], 60_000);
  }

  private async launch(node: number, args: string[]): Promise<void> {
    const bin = await this.bin();
    const dir = this.nodeDir(node);
    const cnf = join(dir, 'my.cnf');
    const pid = spawnDetached(bin.mariadbd, [`--defaults-file=${cnf}`, ...args], join(dir, 'stdout.log'), bin.env);
    writeFileSync(join(dir, 'mariadbd.pid'), `${pid}\n`);
    this.own(join(dir, 'mariadbd.pid'));
  }

  /** SIGKILL of one Galera node (tests). */
  killNode(node: number): void {
    const pid = this.pid(node);
    if (pid !== null) process.kill(pid, 'SIGKILL');
  }

  /** Waits until each node answers Synced and sees the whole cluster that runs. */
  async waitForGalera(nodes: number[], timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const node of nodes) {
      for (;;) {
        const state = await galeraState(node).catch((error: unknown) => ({ state: (error as Error).message, size: 0 }));
        const expected = GALERA_NODES.filter((_, i) => this.pid(i) !== null).length;
        if (state.state === 'Synced' && state.size >= expected) break;
        if (this.pid(node) === null) throw new Error(`Galera node ${node + 1} died:\n${tail(join(this.nodeDir(node), 'mariadbd.log'))}`);
        if (Date.now() > deadline) throw new Error(`Galera node ${node + 1} not Synced after ${timeoutMs / 1000} s (${state.state}):\n${tail(join(this.nodeDir(node), 'mariadbd.log'))}`);
        await sleep(250);
      }
    }
  }

  /**
   * Whether a node's last start by startNode() caught up by IST (the writesets right after its
   * recovered position) rather than a full copy, read from its log.
   */
  joinedByIst(node: number): boolean {
    const position = this.startPositions.get(node);
    if (!position) return false;
    const next = Number(position.slice(position.lastIndexOf(':') + 1)) + 1;
    const log = tail(join(this.nodeDir(node), 'mariadbd.log'), 1000);
    return log.includes(`Receiving IST: `) && new RegExp(`Receiving IST: \\d+ writesets, seqnos ${next}-`).test(log);
  }

  private own(path: string): void {
    if (process.getuid?.() !== 0) return;
    const { uid, gid } = systemUser(RUN_AS);
    const walk = (p: string) => {
      chownSync(p, uid, gid);
      if (statSync(p).isDirectory()) for (const entry of readdirSync(p)) walk(join(p, entry));
    };
    walk(path);
  }

  // ---------- Redis: primary, replica, Sentinels ----------

  private async startRedis(name: string, args: string[], conf?: string): Promise<void> {
    const bin = await this.bin();
    const dir = join(this.dir, name);
    mkdirSync(dir, { recursive: true });
    const pidFile = join(dir, 'pid');
    const pid = readPid(pidFile);
    if (pid !== null && isAlive(pid)) return;
    const all = [...(conf ? [conf] : []), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dir, ...args];
    const started = spawnDetached(bin.redisServer, all, join(dir, 'redis.log'), bin.env);
    writeFileSync(pidFile, `${started}\n`);
  }

  private async startSentinelGroup(): Promise<void> {
    // A fresh group each time nothing of it runs: the primary on its port, the replica following it.
    await this.startRedis('redis-primary', ['--port', String(REDIS_PRIMARY_PORT)]);
    await this.startRedis('redis-replica', ['--port', String(REDIS_REPLICA_PORT), '--replicaof', '127.0.0.1', String(REDIS_PRIMARY_PORT)]);
    for (const [i, port] of SENTINEL_PORTS.entries()) {
      const dir = join(this.dir, `redis-sentinel${i + 1}`);
      mkdirSync(dir, { recursive: true });
      const conf = join(dir, 'sentinel.conf');
      const pid = readPid(join(dir, 'pid'));
      if (pid === null || !isAlive(pid)) {
        writeFileSync(
          conf,
          [
            `port ${port}`,
            'bind 127.0.0.1',
            `sentinel monitor ${SENTINEL_MASTER} 127.0.0.1 ${REDIS_PRIMARY_PORT} 2`,
            `sentinel down-after-milliseconds ${SENTINEL_MASTER} 2000`,
            `sentinel failover-timeout ${SENTINEL_MASTER} 10000`,
            `sentinel parallel-syncs ${SENTINEL_MASTER} 1`,
            '',
          ].join('\n'),
        );
      }
      await this.startRedis(`redis-sentinel${i + 1}`, ['--sentinel', '--port', String(port)], conf);
    }
    await waitFor(async () => {
      const sentinel = new Redis({ port: SENTINEL_PORTS[0], host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
      sentinel.on('error', () => undefined);
      try {
        await sentinel.connect();
        const replicas = (await sentinel.call('SENTINEL', 'REPLICAS', SENTINEL_MASTER)) as unknown[];
        const sentinels = (await sentinel.call('SENTINEL', 'SENTINELS', SENTINEL_MASTER)) as unknown[];
        return replicas.length >= 1 && sentinels.length >= 2;
      } finally {
        sentinel.disconnect();
      }
    }, 30_000, 'the Redis Sentinels to see the primary, its replica and each other');
  }

  /** The address the Sentinels give for the primary now. */
  async sentinelPrimary(): Promise<number> {
    const sentinel = new Redis({ port: SENTINEL_PORTS[0], host: '127.0.0.1', maxRetriesPerRequest: 1 });
    sentinel.on('error', () => undefined);
    try {
      const [, port] = (await sentinel.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', SENTINEL_MASTER)) as [string, string];
      return Number(port);
    } finally {
      sentinel.disconnect();
    }
  }

  /** The pid of the Redis server on a port of the Sentinel group (tests kill it). */
  redisPid(port: number): number | null {
    const name = port === REDIS_PRIMARY_PORT ? 'redis-primary' : port === REDIS_REPLICA_PORT ? 'redis-replica' : null;
    if (!name) return null;
    const pid = readPid(join(this.dir, name, 'pid'));
    return pid !== null && isAlive(pid) ? pid : null;
  }

  /** Starts a stopped Redis of the group again, as a replica of the current primary. */
  async restartRedisAsReplica(port: number): Promise<void> {
    const primary = await this.sentinelPrimary();
    const name = port === REDIS_PRIMARY_PORT ? 'redis-primary' : 'redis-replica';
    await this.startRedis(name, ['--port', String(port), '--replicaof', '127.0.0.1', String(primary)]);
  }

  // ---------- Redis Cluster ----------

  private async startRedisCluster(): Promise<void> {
    const bin = await this.bin();
    for (const [i, port] of REDIS_CLUSTER_PORTS.entries()) {
      await this.startRedis(`redis-cluster${i + 1}`, ['--port', String(port), '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000']);
    }
    await waitFor(async () => (await run(bin.redisCli, ['-p', String(REDIS_CLUSTER_PORTS[0]), 'PING'], { env: bin.env })).output.includes('PONG'), 10_000, 'Redis Cluster nodes');
    const info = await run(bin.redisCli, ['-p', String(REDIS_CLUSTER_PORTS[0]), 'CLUSTER', 'INFO'], { env: bin.env });
    // Nodes restarted from their nodes.conf already know each other: they converge by themselves.
    const knownNodes = Number(/cluster_known_nodes:(\d+)/.exec(info.output)?.[1] ?? 0);
    if (!info.output.includes('cluster_state:ok') && knownNodes < REDIS_CLUSTER_PORTS.length) {
      const created = await run(
        bin.redisCli,
        ['--cluster', 'create', ...REDIS_CLUSTER_PORTS.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '0', '--cluster-yes'],
        { env: bin.env },
      );
      if (!created.ok) throw new Error(`redis-cli --cluster create failed:\n${created.output}`);
    }
    await waitFor(
      async () => (await run(bin.redisCli, ['-p', String(REDIS_CLUSTER_PORTS[0]), 'CLUSTER', 'INFO'], { env: bin.env })).output.includes('cluster_state:ok'),
      20_000,
      'the Redis Cluster to be ok',
    );
  }
}

/** wsrep_local_state_comment and wsrep_cluster_size of a node, over a connection of its own. */
export async function galeraState(node: number): Promise<{ state: string; size: number }> {
  const connection = await mysql.createConnection({ host: '127.0.0.1', port: GALERA_NODES[node].port, user: 'root', connectTimeout: 2000 });
  try {
    const [rows] = await connection.query<any[]>("SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state_comment', 'wsrep_cluster_size')");
    const status = new Map(rows.map((row: { Variable_name: string; Value: string }) => [row.Variable_name, row.Value]));
    return { state: status.get('wsrep_local_state_comment') ?? 'unknown', size: Number(status.get('wsrep_cluster_size') ?? 0) };
  } finally {
    connection.destroy();
  }
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(250);
  }
}

function readdirIfExists(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function systemUser(name: string): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith(`${name}:`));
  if (!line) throw new Error(`no user ${name}`);
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/**
 * As root, mariadbd must run as an unprivileged user: rsync SST's daemon drops to `nobody` and
 * cannot write a root-owned datadir. Debian's mariadb-server package would create `mysql`; here
 * it is created the same way if missing.
 */
function ensureSystemUser(name: string): void {
  try {
    systemUser(name);
  } catch {
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', name]);
  }
}
