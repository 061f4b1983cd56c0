import { benchGraphQL, dropBenchDatabase, report, startBenchServer } from '../lib/server.js';
import {
  benchPool,
  checkList,
  claimBody,
  explainCodeRead,
  httpLoad,
  rawClaimFloor,
  seedCampaign,
  seedOtherLists,
  seedUniqueList,
  settleDatabase,
  TRIVIAL_BODY,
  type LoadResult,
} from '../lib/claim-load.js';

const CONNECTIONS = 64;
const SECONDS = Number(process.env.BENCH_CLAIM_SECONDS ?? 10);
const WARMUP_SECONDS = 3;

const figures = (result: LoadResult) => ({
  'per_s': Math.round(result.rate),
  'p50_ms': result.p50,
  'p99_ms': result.p99,
  errors: result.errors,
  reused: result.reused,
  ...(result.serverCpuMicros === undefined ? {} : { server_cpu_us_per_req: Math.round(result.serverCpuMicros) }),
  ...(result.machineBusy === undefined ? {} : { machine_busy_pct: Math.round(result.machineBusy) }),
});

/**
 * claimCoupon under load, against a server process started as `npm start` starts it:
 * 64 HTTP clients claiming for distinct users on a 200,000-code list; the trivial query on the
 * same server; the raw one-claim-per-transaction floor over mysql2; then the claim rate again
 * with a mostly used 5,000,000-code list, and with 1,000 other lists (and campaigns) present.
 */
export const scenario = {
  name: 'claims',
  async run(): Promise<{ passed: boolean; lines: string[] }> {
    const server = await startBenchServer();
    const pool = benchPool(server.databaseUrl);
    const lines: string[] = [];
    try {
      const key = (await benchGraphQL(server.url, 'mutation { createApiKey(name: "widget", role: CLIENT) { secret } }')).createApiKey.secret as string;

      // 1. Claims on a 200,000-code list.
      const baseList = await seedUniqueList(pool, 'bench 200k', 200_000);
      const baseCampaign = await seedCampaign(pool, 'bench 200k', [baseList]);
      await settleDatabase(pool);
      await httpLoad({ url: server.url, pid: server.pid, key, connections: CONNECTIONS, seconds: WARMUP_SECONDS, body: claimBody(baseCampaign, 'warm') });
      const claims = await httpLoad({ url: server.url, pid: server.pid, key, connections: CONNECTIONS, seconds: SECONDS, body: claimBody(baseCampaign, 'user') });
      const baseCheck = await checkList(pool, baseList);
      lines.push(report('claims 200k list', { ...figures(claims), duplicates: baseCheck.duplicates, inconsistencies: baseCheck.inconsistencies }));
      if (claims.firstError) console.log(`  first error: ${claims.firstError}`);

      // 2. The trivial query on the same server.
      await httpLoad({ url: server.url, pid: server.pid, key, connections: CONNECTIONS, seconds: 1, body: TRIVIAL_BODY });
      const trivial = await httpLoad({ url: server.url, pid: server.pid, key, connections: CONNECTIONS, seconds: SECONDS, body: TRIVIAL_BODY });
      lines.push(report('trivial { __typename }', figures(trivial)));

      // 3. The database floor: one claim per transaction straight over mysql2.
      const rawList = await seedUniqueList(pool, 'bench raw', 200_000);
      const rawCampaign = await seedCampaign(pool, 'bench raw', [rawList]);
      await settleDatabase(pool);
      const raw = await rawClaimFloor(server.databaseUrl, rawCampaign, rawList, CONNECTIONS, SECONDS);
      const rawCheck = await checkList(pool, rawList);
      lines.push(report('raw floor (mysql2, 1 claim/tx)', { ...figures(raw), duplicates: rawCheck.duplicates }));
      if (raw.firstError) console.log(`  first error: ${raw.firstError}`);

      // 4. A 5,000,000-code list of which 4,500,000 are used already.
      const bigList = await seedUniqueList(pool, 'bench 5M', 5_000_000, 4_500_000);
      const bigCampaign = await seedCampaign(pool, 'bench 5M', [bigList]);
      await pool.query('ANALYZE TABLE coupon_codes');
      const plan = await explainCodeRead(pool, bigList, 4_500_000, 5_000_000);
      lines.push(report('code read plan, 5M list 90% used', plan));
      await settleDatabase(pool);
      await httpLoad({ url: server.url, pid: server.pid, key, connections: CONNECTIONS, seconds: 1, body: claimBody(bigCampaign, 'warm') });
      const big = await httpLoad({ url: server.url, pid: server.pid, key, connections: CONNECTIONS, seconds: SECONDS, body: claimBody(bigCampaign, 'user') });
      const bigCheck = await checkList(pool, bigList, 4_500_000);
      lines.push(report('claims 5M list (90% used)', { ...figures(big), duplicates: bigCheck.duplicates, inconsistencies: bigCheck.inconsistencies }));

      // 5. 1,000 other lists, each with codes and a campaign.
      await seedOtherLists(pool, 1000, 100);
      const crowdList = await seedUniqueList(pool, 'bench crowd', 200_000);
      const crowdCampaign = await seedCampaign(pool, 'bench crowd', [crowdList]);
      await settleDatabase(pool);
      await httpLoad({ url: server.url, pid: server.pid, key, connections: CONNECTIONS, seconds: 1, body: claimBody(crowdCampaign, 'warm') });
      const crowd = await httpLoad({ url: server.url, pid: server.pid, key, connections: CONNECTIONS, seconds: SECONDS, body: claimBody(crowdCampaign, 'user') });
      const crowdCheck = await checkList(pool, crowdList);
      lines.push(report('claims with 1,000 other lists', { ...figures(crowd), duplicates: crowdCheck.duplicates, inconsistencies: crowdCheck.inconsistencies }));

      // The 200k list once more, so that the comparisons do not hang on one run.
      const again = await httpLoad({ url: server.url, pid: server.pid, key, connections: CONNECTIONS, seconds: SECONDS, body: claimBody(baseCampaign, 'again') });
      const againCheck = await checkList(pool, baseList);
      lines.push(report('claims 200k list, again', { ...figures(again), duplicates: againCheck.duplicates, inconsistencies: againCheck.inconsistencies }));
      const baseRate = (claims.rate + again.rate) / 2;

      const [[{ duplicates }]] = await pool.query<any[]>(
        `SELECT COUNT(*) AS duplicates FROM (SELECT list_id, code FROM coupon_assignments GROUP BY list_id, code HAVING COUNT(DISTINCT id) > 1 AND MIN(code_seq) IS NOT NULL) d`,
      );
      const ratios = {
        claims_vs_trivial: baseRate / trivial.rate,
        // Less sensitive to other load on the machine than the rates: the server's own CPU time.
        trivial_vs_claims_server_cpu: (2 * (trivial.serverCpuMicros ?? 0)) / ((claims.serverCpuMicros ?? 0) + (again.serverCpuMicros ?? 0)),
        claims_vs_raw: baseRate / raw.rate,
        big_vs_base: big.rate / baseRate,
        crowd_vs_base: crowd.rate / baseRate,
      };
      lines.push(report('ratios', ratios));
      const measured = [claims, big, crowd, again];
      const goals = {
        'claims>=0.5*trivial': ratios.claims_vs_trivial >= 0.5,
        'p99<=50ms': measured.every((r) => r.p99 <= 50),
        'zero_errors': measured.every((r) => r.errors === 0 && r.reused === 0),
        'zero_duplicates': Number(duplicates) === 0 && [againCheck, bigCheck, crowdCheck, rawCheck].every((c) => c.duplicates === 0 && c.inconsistencies === 0),
        'claims>raw': ratios.claims_vs_raw > 1,
        '5M_drop<=10%': ratios.big_vs_base >= 0.9,
        '1000_lists_drop<=10%': ratios.crowd_vs_base >= 0.9,
        'code_read_is_pk_range': plan.key === 'PRIMARY' && plan.type === 'range',
      };
      lines.push(report('goals', goals));
      lines.push(report('server', { peak_rss_mib: Math.round(server.peakRssMiB()) }));
      return { passed: Object.values(goals).every(Boolean), lines };
    } finally {
      await pool.end();
      await server.stop();
      await dropBenchDatabase(server.databaseUrl);
    }
  },
};
