import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import mysql from 'mysql2/promise';
import { findExecutable } from '../../src/infra/local-services/binaries';
import { CLUSTER_URLS, galeraUrlPreferring, LocalCluster } from '../../src/infra/local-services/cluster';
import { consoleServicesLogger } from '../../src/infra/local-services/from-environment';
import { stateDirOf } from '../../src/infra/local-services/servers';

export { CLUSTER_URLS, galeraUrlPreferring };

const ROOT = join(__dirname, '..', '..');

/**
 * The local cluster (3 Galera nodes, a Sentinel group, a Redis Cluster) can run here when its
 * Debian packages are unpacked already or can be fetched (linux x64 with apt-get and dpkg-deb).
 */
export function clusterCanRun(): boolean {
  if (existsSync(join(stateDirOf(ROOT), 'cluster-root', '.complete'))) return true;
  return process.platform === 'linux' && process.arch === 'x64' && findExecutable(['apt-get']) !== null && findExecutable(['dpkg-deb']) !== null;
}

/**
 * `describe` for tests on the local cluster: skipped with one line where it cannot run (never
 * under CI=true, where that is a failure).
 */
export function describeOnCluster(name: string, body: () => void): void {
  if (clusterCanRun()) {
    describe(name, () => {
      // Files kill nodes and fail Redis over: one file at a time has the cluster.
      beforeAll(() => holdCluster(), 15 * 60_000);
      body();
      afterAll(() => releaseCluster());
    });
    return;
  }
  if (process.env.CI === 'true') {
    describe(name, () => it('needs the local Galera / Sentinel cluster (linux x64 with apt-get and dpkg-deb)', () => expect(clusterCanRun()).toBe(true)));
    return;
  }
  console.log(`skipped "${name}": the local Galera / Redis Sentinel cluster cannot run here (needs linux x64 with apt-get and dpkg-deb)`);
  describe.skip(name, () => it('needs the local cluster', () => undefined));
}

const HOLD_FILE = join(stateDirOf(ROOT), 'cluster-tests.lock');

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Waits until no other test process holds the cluster, then holds it (a holder that died is passed over). */
async function holdCluster(): Promise<void> {
  mkdirSync(dirname(HOLD_FILE), { recursive: true });
  for (;;) {
    try {
      const fd = openSync(HOLD_FILE, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return;
    } catch {
      // Held: wait, unless its holder died (or left it empty, between creating and writing, long ago).
      let holder = '';
      try {
        holder = readFileSync(HOLD_FILE, 'utf8');
      } catch {
        continue; // released in the meantime
      }
      const abandoned = holder ? !alive(Number(holder)) : Date.now() - statSync(HOLD_FILE).mtimeMs > 10_000;
      if (abandoned) rmSync(HOLD_FILE, { force: true });
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

function releaseCluster(): void {
  try {
    if (Number(readFileSync(HOLD_FILE, 'utf8')) === process.pid) unlinkSync(HOLD_FILE);
  } catch {
    // not held
  }
}

/** The project's local cluster, brought up if it is not running (shared by every test file). */
export async function localCluster(): Promise<LocalCluster> {
  const cluster = new LocalCluster(stateDirOf(ROOT), { info: () => undefined, warn: consoleServicesLogger.warn });
  // The first test file of a run starts from a new cluster, as on a fresh clone: the positions and
  // node lists a cluster stopped by an earlier run left behind would make every run different.
  await cluster.up({ fresh: true });
  return cluster;
}

/** A connection to one Galera node (0-based), reading with wsrep_sync_wait so that it sees every write committed anywhere. */
export async function nodeConnection(node: number, database: string): Promise<mysql.Connection> {
  const connection = await mysql.createConnection({ host: '127.0.0.1', port: 3311 + node, user: 'root', database, bigNumberStrings: true, supportBigNumbers: true });
  await connection.query('SET SESSION wsrep_sync_wait = 1');
  return connection;
}

/** What the tables say about a list after claims: every answer must be a row, each code once, the cursor at the top. */
export async function expectAnswersStored(database: string, listId: string, granted: Array<{ id: string; code: string }>, nodes = [0, 1, 2]): Promise<void> {
  for (const node of nodes) {
    const connection = await nodeConnection(node, database);
    try {
      const [rows] = await connection.query<any[]>('SELECT id, code, code_seq FROM coupon_assignments WHERE list_id = ?', [listId]);
      const [[list]] = await connection.query<any[]>('SELECT claim_cursor, assigned_codes FROM coupon_lists WHERE id = ?', [listId]);
      const stored = new Map(rows.map((row) => [row.id as string, row.code as string]));
      expect(rows.length).toBe(granted.length);
      for (const answer of granted) expect(stored.get(answer.id)).toBe(answer.code);
      expect(new Set(rows.map((row) => row.code)).size).toBe(rows.length);
      const top = rows.reduce((max, row) => Math.max(max, Number(row.code_seq)), 0);
      expect({ cursor: Number(list.claim_cursor), assigned: Number(list.assigned_codes) }).toEqual({ cursor: top, assigned: rows.length });
      // Codes went out as one run from the start of the list: no hole a lost write would leave.
      expect(top).toBe(rows.length);
    } finally {
      await connection.end();
    }
  }
}
