import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { GALERA_NODES, LocalCluster, galeraUrlPreferring } from '../../src/infra/local-services/cluster.js';
import { consoleServicesLogger } from '../../src/infra/local-services/from-environment.js';
import { stateDirOf } from '../../src/infra/local-services/servers.js';
import { benchPool, checkList, claimBody, databaseServerPid, httpLoad, processCpuMicros, seedCampaign, seedUniqueList, settleDatabase, type LoadResult } from '../lib/claim-load.js';
import { PROJECT_ROOT, benchDatabaseUrl, benchGraphQL, dropBenchDatabase, report, startBenchServer, type BenchServer } from '../lib/server.js';

const CONNECTIONS = 64;
const SECONDS = Number(process.env.BENCH_CLAIM_SECONDS ?? 8);
/** Rounds of (one MariaDB, Galera one writer, Galera two writers), interleaved so that load from elsewhere on the machine hits all three alike. */
const ROUNDS = Number(process.env.BENCH_HA_ROUNDS ?? 2);
const WARMUP_SECONDS = 3;
const CODES = 150_000;

/** Server status counters summed over the database servers of a phase. */
const COUNTERS = [
  'Questions',
  'Com_commit',
  'Com_rollback',
  'wsrep_local_cert_failures',
  'wsrep_local_bf_aborts',
  'wsrep_flow_control_paused_ns',
] as const;
type Counters = Record<(typeof COUNTERS)[number] | 'cpuMicros', number> & { cpuByServer: number[] };

/** A database server of a phase: where to read its counters, and its process (for its CPU time) when readable here. */
interface DatabaseServer {
  host: string;
  port: number;
  pid: () => number | null;
}

function zeroCounters(servers: number): Counters {
  return { ...(Object.fromEntries([...COUNTERS, 'cpuMicros'].map((name) => [name, 0])) as Omit<Counters, 'cpuByServer'>), cpuByServer: Array(servers).fill(0) };
}

async function readCounters(servers: DatabaseServer[]): Promise<Counters> {
  const sum = zeroCounters(servers.length);
  for (const [index, server] of servers.entries()) {
    const connection = await mysql.createConnection({ host: server.host, port: server.port, user: 'root' }).catch(() => null);
    if (!connection) continue;
    try {
      const [rows] = await connection.query<any[]>('SHOW GLOBAL STATUS WHERE Variable_name IN (?)', [[...COUNTERS]]);
      for (const row of rows) (sum as Record<string, number>)[row.Variable_name] += Number(row.Value);
    } finally {
      await connection.end();
    }
    const pid = server.pid();
    if (pid !== null) sum.cpuByServer[index] = processCpuMicros(pid);
    sum.cpuMicros += sum.cpuByServer[index];
  }
  return sum;
}

/** Sums of the claim engine's histograms, read from a server's /metrics. */
async function engineCounters(url: string): Promise<{ batches: number; claims: number; claimSeconds: number; answered: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return {
    batches: value('coupon_claim_batch_size_count'),
    claims: value('coupon_claim_batch_size_sum'),
    claimSeconds: value('coupon_claim_duration_seconds_sum'),
    answered: value('coupon_claim_duration_seconds_count'),
  };
}

/** One way of running the service measured here: its API processes (the load is split among them) and its database servers. */
interface Phase {
  name: string;
  servers: BenchServer[];
  databases: DatabaseServer[];
  galera: boolean;
  campaignId: string;
  listId: string;
  key: string;
  pool: mysql.Pool;
  totals: { ok: number; errors: number; seconds: number; busySeconds: number; apiCpuMicros: number; p50: number; p99: number; batches: number; batchClaims: number; engineSeconds: number; counters: Counters; firstError?: string };
  rates: number[];
}

async function preparePhase(name: string, servers: BenchServer[], databases: DatabaseServer[], galera: boolean): Promise<Phase> {
  const pool = benchPool(servers[0].databaseUrl);
  const listId = await seedUniqueList(pool, name, CODES);
  const campaignId = await seedCampaign(pool, name, [listId]);
  const key = (await benchGraphQL(servers[0].url, 'mutation { createApiKey(name: "widget", role: CLIENT) { secret } }')).createApiKey.secret as string;
  const counters = zeroCounters(databases.length);
  const totals = { ok: 0, errors: 0, seconds: 0, busySeconds: 0, apiCpuMicros: 0, p50: 0, p99: 0, batches: 0, batchClaims: 0, engineSeconds: 0, counters };
  return { name, servers, databases, galera, campaignId, listId, key, pool, totals, rates: [] };
}

function load(phase: Phase, seconds: number, users: string): Promise<LoadResult[]> {
  return Promise.all(
    phase.servers.map((server, i) =>
      httpLoad({ url: server.url, pid: server.pid, key: phase.key, connections: CONNECTIONS / phase.servers.length, seconds, body: claimBody(phase.campaignId, `${users}-${i}`) }),
    ),
  );
}

/** One measured run of a phase, added to its totals. */
async function measure(phase: Phase, round: number): Promise<void> {
  const enginesBefore = await Promise.all(phase.servers.map((server) => engineCounters(server.url)));
  const before = await readCounters(phase.databases);
  const results = await load(phase, SECONDS, `r${round}`);
  const after = await readCounters(phase.databases);
  const enginesAfter = await Promise.all(phase.servers.map((server) => engineCounters(server.url)));
  const t = phase.totals;
  const ok = results.reduce((sum, r) => sum + r.ok, 0);
  const seconds = Math.max(...results.map((r) => r.seconds));
  t.ok += ok;
  t.errors += results.reduce((sum, r) => sum + r.errors, 0);
  t.firstError ??= results.find((r) => r.firstError)?.firstError;
  t.seconds += seconds;
  // Every process of a phase runs on this machine: one reading of its busy share serves all.
  t.busySeconds += ((results[0].machineBusy ?? 0) / 100) * seconds;
  t.apiCpuMicros += results.reduce((sum, r) => sum + (r.serverCpuMicros ?? 0) * (r.ok + r.errors), 0);
  t.p50 = Math.max(t.p50, ...results.map((r) => r.p50));
  t.p99 = Math.max(t.p99, ...results.map((r) => r.p99));
  enginesAfter.forEach((a, i) => {
    t.batches += a.batches - enginesBefore[i].batches;
    t.batchClaims += a.claims - enginesBefore[i].claims;
    t.engineSeconds += a.claimSeconds - enginesBefore[i].claimSeconds;
  });
  for (const name of [...COUNTERS, 'cpuMicros'] as const) t.counters[name] += after[name] - before[name];
  after.cpuByServer.forEach((cpu, i) => (t.counters.cpuByServer[i] += cpu - before.cpuByServer[i]));
  phase.rates.push(ok / seconds);
}

/**
 * A phase's figures: the rate over all its rounds; the API processes' and the database servers'
 * CPU time per claim; claims per batch and the mean time a claim spent in the claim engine;
 * statements the database servers ran per claim (every statement is a round trip); on Galera,
 * transactions rolled back (and run again), certification failures, write sets aborted by
 * another node's, and the time flow control paused the writers.
 */
function phaseFigures(phase: Phase): Record<string, number | string> {
  const t = phase.totals;
  const c = t.counters;
  const claims = Math.max(1, t.ok);
  return {
    per_s: Math.round(t.ok / t.seconds),
    p50_ms: t.p50,
    p99_ms: t.p99,
    errors: t.errors,
    ...(t.firstError ? { first_error: JSON.stringify(t.firstError.slice(0, 240)) } : {}),
    machine_busy_pct: Math.round((100 * t.busySeconds) / Math.max(1e-9, t.seconds)),
    server_cpu_us_per_req: Math.round(t.apiCpuMicros / claims),
    db_cpu_us_per_claim: Math.round(c.cpuMicros / claims),
    ...(c.cpuByServer.length > 1 ? { by_node: c.cpuByServer.map((cpu) => Math.round(cpu / claims)).join('/') } : {}),
    claims_per_batch: t.batchClaims / Math.max(1, t.batches),
    engine_ms: (1000 * t.engineSeconds) / Math.max(1, t.batchClaims),
    ...(phase.galera
      ? {
          statements_per_claim: c.Questions / claims,
          rollbacks: c.Com_rollback,
          cert_failures: c.wsrep_local_cert_failures,
          bf_aborts: c.wsrep_local_bf_aborts,
          flow_control_paused_ms: Math.round(c.wsrep_flow_control_paused_ns / 1e6),
        }
      : {}),
  };
}

/**
 * Claims on the local Galera cluster against one MariaDB (DATABASE_URL), in the same run and
 * under the same load: every process writing through one node; two processes writing through
 * two nodes; rounds of the three interleaved; then the time from the writing node's SIGKILL to
 * the next successful claim.
 */
export const scenario = {
  name: 'claims-ha',
  async run(): Promise<{ passed: boolean; lines: string[] }> {
    const cluster = new LocalCluster(stateDirOf(PROJECT_ROOT), consoleServicesLogger);
    await cluster.up();
    const lines: string[] = [];
    const database = `coupons_bench_ha_${randomBytes(3).toString('hex')}`;

    const single = await startBenchServer({ databaseUrl: benchDatabaseUrl('single') });
    const first = await startBenchServer({ databaseUrl: galeraUrlPreferring(0, database) });
    const second = await startBenchServer({ databaseUrl: galeraUrlPreferring(1, database), queuePrefix: first.queuePrefix });
    const singleLocation = new URL(single.databaseUrl.replace(/^mysql:/, 'http:'));
    const singleHost = { host: singleLocation.hostname, port: Number(singleLocation.port || 3306) };
    const singlePid = await databaseServerPid(singleHost.host, singleHost.port);
    const nodes: DatabaseServer[] = GALERA_NODES.map((node, i) => ({ host: '127.0.0.1', port: node.port, pid: () => cluster.nodePid(i) }));
    let recoveryMs = Number.NaN;
    const phases: Phase[] = [];
    try {
      phases.push(await preparePhase('one MariaDB', [single], [{ ...singleHost, pid: () => singlePid }], false));
      phases.push(await preparePhase('Galera, one writing node', [first], nodes, true));
      phases.push(await preparePhase('Galera, two writing nodes', [first, second], nodes, true));
      for (const phase of phases) await settleDatabase(phase.pool);
      for (const phase of phases) await load(phase, WARMUP_SECONDS, 'warm');
      for (let round = 0; round < ROUNDS; round++) for (const phase of phases) await measure(phase, round);
      for (const phase of phases) {
        const check = await checkList(phase.pool, phase.listId);
        lines.push(report(phase.name, { ...phaseFigures(phase), duplicates: check.duplicates, inconsistencies: check.inconsistencies }));
      }

      // The writing node dies under load: how long until the next claim succeeds (on the next node).
      const f = await preparePhase('galera failover', [first], nodes, true);
      phases.push(f);
      let running = true;
      let killedAt = 0;
      let firstAfter = 0;
      let n = 0;
      const loops = Array.from({ length: 16 }, async () => {
        while (running) {
          const body = claimBody(f.campaignId, 'fo')(n++);
          const sentAt = Date.now();
          const ok = await fetch(`${first.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${f.key}` }, body })
            .then(async (r) => r.status === 200 && !(await r.text()).includes('"errors"'))
            .catch(() => false);
          if (ok && killedAt > 0 && sentAt > killedAt && firstAfter === 0) firstAfter = Date.now();
        }
      });
      await new Promise((resolve) => setTimeout(resolve, 2000));
      cluster.killNode(0);
      killedAt = Date.now();
      while (firstAfter === 0 && Date.now() - killedAt < 60_000) await new Promise((resolve) => setTimeout(resolve, 50));
      running = false;
      await Promise.all(loops);
      recoveryMs = firstAfter === 0 ? Number.NaN : firstAfter - killedAt;
      const survivor = benchPool(galeraUrlPreferring(1, database));
      const failoverCheck = await checkList(survivor, f.listId);
      await survivor.end();
      lines.push(report('writing node SIGKILLed', { next_successful_claim_ms: recoveryMs, duplicates: failoverCheck.duplicates, inconsistencies: failoverCheck.inconsistencies }));
      await cluster.startNode(0);
      lines.push(report('node 1 rejoined', { by_ist: cluster.joinedByIst(0) }));
    } finally {
      for (const phase of phases) await phase.pool.end().catch(() => undefined);
      await single.stop();
      await first.stop();
      await second.stop();
      await dropBenchDatabase(single.databaseUrl).catch(() => undefined);
      await dropBenchDatabase(galeraUrlPreferring(1, database)).catch(() => undefined);
    }
    const [base, oneNode, twoNodes] = phases;
    const rate = (phase: Phase) => phase.totals.ok / phase.totals.seconds;
    const ratios = {
      one_node_vs_single: rate(oneNode) / rate(base),
      two_nodes_vs_single: rate(twoNodes) / rate(base),
      // Per round (each against the single MariaDB of the same round): how much the load elsewhere moved them.
      one_node_rounds: base.rates.map((r, i) => (oneNode.rates[i] / r).toFixed(2)).join('/'),
      two_nodes_rounds: base.rates.map((r, i) => (twoNodes.rates[i] / r).toFixed(2)).join('/'),
    };
    lines.push(report('ratios', ratios));
    const goals = { 'one_node>=0.9x': ratios.one_node_vs_single >= 0.9, 'two_nodes>=0.5x': ratios.two_nodes_vs_single >= 0.5, 'back_within_10s': recoveryMs < 10_000 };
    lines.push(report('goals', goals));
    return { passed: Object.values(goals).every(Boolean), lines };
  },
};
