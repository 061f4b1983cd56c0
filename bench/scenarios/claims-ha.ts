import { randomBytes } from 'node:crypto';
import { LocalCluster, galeraUrlPreferring } from '../../src/infra/local-services/cluster.js';
import { consoleServicesLogger } from '../../src/infra/local-services/from-environment.js';
import { stateDirOf } from '../../src/infra/local-services/servers.js';
import { benchPool, checkList, claimBody, httpLoad, seedCampaign, seedUniqueList, type LoadResult } from '../lib/claim-load.js';
import { PROJECT_ROOT, benchDatabaseUrl, benchGraphQL, dropBenchDatabase, report, startBenchServer, type BenchServer } from '../lib/server.js';

const CONNECTIONS = 64;
const SECONDS = Number(process.env.BENCH_CLAIM_SECONDS ?? 8);
const CODES = 150_000;

const figures = (result: LoadResult) => ({ per_s: Math.round(result.rate), p50_ms: result.p50, p99_ms: result.p99, errors: result.errors });

/** A campaign over a fresh list of the server's database, and a CLIENT key. */
async function prepare(server: BenchServer, name: string) {
  const pool = benchPool(server.databaseUrl);
  const listId = await seedUniqueList(pool, name, CODES);
  const campaignId = await seedCampaign(pool, name, [listId]);
  const key = (await benchGraphQL(server.url, 'mutation { createApiKey(name: "widget", role: CLIENT) { secret } }')).createApiKey.secret as string;
  return { pool, listId, campaignId, key };
}

/**
 * Claims on the local Galera cluster against one MariaDB, in the same run: every process writing
 * through one node; two processes writing through two nodes; and the time from the writing
 * node's SIGKILL to the next successful claim.
 */
export const scenario = {
  name: 'claims-ha',
  async run(): Promise<{ passed: boolean; lines: string[] }> {
    const cluster = new LocalCluster(stateDirOf(PROJECT_ROOT), consoleServicesLogger);
    await cluster.up();
    const lines: string[] = [];
    const database = `coupons_bench_ha_${randomBytes(3).toString('hex')}`;

    // 1. One MariaDB.
    const single = await startBenchServer({ databaseUrl: benchDatabaseUrl('single') });
    let singleResult: LoadResult;
    try {
      const s = await prepare(single, 'single');
      await httpLoad({ url: single.url, key: s.key, connections: CONNECTIONS, seconds: 2, body: claimBody(s.campaignId, 'warm') });
      singleResult = await httpLoad({ url: single.url, pid: single.pid, key: s.key, connections: CONNECTIONS, seconds: SECONDS, body: claimBody(s.campaignId, 'u') });
      lines.push(report('one MariaDB', { ...figures(singleResult), duplicates: (await checkList(s.pool, s.listId)).duplicates }));
      await s.pool.end();
    } finally {
      await single.stop();
      await dropBenchDatabase(single.databaseUrl);
    }

    // 2. Galera, one writing node; 3. two processes through two nodes; 4. the writing node killed.
    const first = await startBenchServer({ databaseUrl: galeraUrlPreferring(0, database) });
    const second = await startBenchServer({ databaseUrl: galeraUrlPreferring(1, database), queuePrefix: first.queuePrefix });
    let oneNode: LoadResult;
    let twoNodes: LoadResult[];
    let recoveryMs = Number.NaN;
    try {
      const g = await prepare(first, 'galera one writer');
      await httpLoad({ url: first.url, key: g.key, connections: CONNECTIONS, seconds: 2, body: claimBody(g.campaignId, 'warm') });
      oneNode = await httpLoad({ url: first.url, pid: first.pid, key: g.key, connections: CONNECTIONS, seconds: SECONDS, body: claimBody(g.campaignId, 'u') });
      lines.push(report('Galera, one writing node', { ...figures(oneNode), duplicates: (await checkList(g.pool, g.listId)).duplicates }));

      const t = await prepare(first, 'galera two writers');
      twoNodes = await Promise.all(
        [first, second].map((server, i) =>
          httpLoad({ url: server.url, pid: server.pid, key: t.key, connections: CONNECTIONS / 2, seconds: SECONDS, body: claimBody(t.campaignId, `w${i}`) }),
        ),
      );
      const both = twoNodes[0].rate + twoNodes[1].rate;
      lines.push(report('Galera, two writing nodes', { per_s: Math.round(both), errors: twoNodes[0].errors + twoNodes[1].errors, duplicates: (await checkList(t.pool, t.listId)).duplicates }));

      // The writing node dies under load: how long until the next claim succeeds (on the next node).
      const f = await prepare(first, 'galera failover');
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
      for (const pool of [g.pool, t.pool, f.pool]) await pool.end().catch(() => undefined);
    } finally {
      await first.stop();
      await second.stop();
      await dropBenchDatabase(galeraUrlPreferring(1, database)).catch(() => undefined);
    }
    const ratios = { one_node_vs_single: oneNode.rate / singleResult.rate, two_nodes_vs_single: (twoNodes[0].rate + twoNodes[1].rate) / singleResult.rate };
    lines.push(report('ratios', ratios));
    const goals = { 'one_node>=0.9x': ratios.one_node_vs_single >= 0.9, 'two_nodes>=0.5x': ratios.two_nodes_vs_single >= 0.5, 'back_within_10s': recoveryMs < 10_000 };
    lines.push(report('goals', goals));
    return { passed: Object.values(goals).every(Boolean), lines };
  },
};
