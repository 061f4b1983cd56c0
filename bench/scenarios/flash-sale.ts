import type mysql from 'mysql2/promise';
import { benchGraphQL, dropBenchDatabase, report, startBenchServer } from '../lib/server.js';
import { benchPool, checkList, claimBody, httpLoad, seedCampaign, seedUniqueList, settleDatabase, TRIVIAL_BODY, type LoadResult } from '../lib/claim-load.js';

const CONNECTIONS = Number(process.env.BENCH_FLASH_CONNECTIONS ?? 1000);
const CODES = Number(process.env.BENCH_FLASH_CODES ?? 10_000);
const SECONDS = Number(process.env.BENCH_FLASH_SECONDS ?? 10);
/** Codes of the campaign the sale's process serves before the sale (3 s of claims at 1,000 connections). */
const WARMUP_CODES = 100_000;
const GOAL_P99_MS = 500;
const GOAL_RSS_MIB = 400;
const GOAL_REFUSALS_VS_TRIVIAL = 0.8;
/** The answers a claim in a flash sale may get besides a code (RATE_LIMITED: shed under overload). */
const CONTRACT_REFUSALS = ['LIST_EXHAUSTED', 'CAMPAIGN_FINISHED', 'RATE_LIMITED'] as const;

const figures = (result: LoadResult) => ({
  per_s: Math.round(result.rate),
  ok: result.ok,
  ...Object.fromEntries(Object.entries(result.refused).map(([code, count]) => [code, count])),
  errors: result.errors,
  timeouts: result.timeouts,
  connection_errors: result.connectionErrors,
  p50_ms: result.p50,
  p99_ms: result.p99,
  max_ms: result.max,
  ...(result.serverCpuMicros === undefined ? {} : { server_cpu_us_per_req: Math.round(result.serverCpuMicros) }),
  machine_busy_pct: Math.round(result.machineBusy ?? 0),
});

/** Transactions the database has started so far (START TRANSACTION / BEGIN statements). */
async function transactionsStarted(pool: mysql.Pool): Promise<number> {
  const [rows] = await pool.query<any[]>("SHOW GLOBAL STATUS LIKE 'Com_begin'");
  return Number(rows[0]?.Value ?? 0);
}

/**
 * A flash sale: CONNECTIONS claimers (autocannon, each request another user) on a campaign of
 * CODES codes, many times more claims than codes, from the first second. Then the campaign is
 * finished: refusals are measured against the trivial query at the same concurrency, on the
 * process that ran the sale and on a second API process that learnt of the end only through
 * the events (Redis), with the database's transaction count beside them.
 */
export const scenario = {
  name: 'flash-sale',
  async run(): Promise<{ passed: boolean; lines: string[] }> {
    const server = await startBenchServer();
    // A second API process on the same database and Redis namespace: it never claims in the sale.
    const other = await startBenchServer({ databaseUrl: server.databaseUrl, queuePrefix: server.queuePrefix, env: { ROLE: 'api' } });
    const pool = benchPool(server.databaseUrl);
    const lines: string[] = [];
    try {
      const key = (await benchGraphQL(server.url, 'mutation { createApiKey(name: "flash", role: CLIENT) { secret } }')).createApiKey.secret as string;
      const listId = await seedUniqueList(pool, 'flash sale', CODES);
      const campaignId = await seedCampaign(pool, 'flash sale', [listId]);
      await settleDatabase(pool);
      const load = (url: string, pid: number, body: (n: number) => string, seconds = SECONDS) =>
        httpLoad({ url, pid, key, connections: CONNECTIONS, seconds, body, refusals: CONTRACT_REFUSALS });

      await load(server.url, server.pid, TRIVIAL_BODY, 2);
      const trivial = await load(server.url, server.pid, TRIVIAL_BODY);
      lines.push(report(`trivial { __typename }, ${CONNECTIONS} connections`, figures(trivial)));

      // The sale's process has served claims before, as a running service has: its claim path is
      // compiled (the trivial query is warmed up the same way), on a campaign of its own.
      const warmCampaignId = await seedCampaign(pool, 'before the sale', [await seedUniqueList(pool, 'before the sale', WARMUP_CODES)]);
      await load(server.url, server.pid, claimBody(warmCampaignId, 'before'), 3);

      const sale = await load(server.url, server.pid, claimBody(campaignId, 'flash'));
      const saleRss = server.peakRssMiB();
      const check = await checkList(pool, listId);
      const [[campaign]] = await pool.query<any[]>('SELECT status FROM campaigns WHERE id = ?', [campaignId]);
      lines.push(report(`flash sale, ${CONNECTIONS} claimers, ${CODES} codes`, { ...figures(sale), peak_rss_mib: Math.round(saleRss) }));
      lines.push(report('flash sale check', { assigned: check.assigned, duplicates: check.duplicates, inconsistencies: check.inconsistencies, campaign: campaign.status }));
      if (sale.firstError) console.log(`  first error: ${sale.firstError}`);

      // After the end: refusals on the process that ran the sale, then on the other one.
      const refusalRuns: Array<{ name: string; result: LoadResult; transactionsPerRefusal: number }> = [];
      for (const [name, target] of [['sale process', server], ['other API process', other]] as const) {
        // Warmed up like the trivial query is: the other process has served nothing before.
        await load(target.url, target.pid, claimBody(campaignId, `warm-${name.split(' ')[0]}`), 2);
        const before = await transactionsStarted(pool);
        const result = await load(target.url, target.pid, claimBody(campaignId, `late-${name.split(' ')[0]}`));
        const transactions = (await transactionsStarted(pool)) - before;
        const transactionsPerRefusal = transactions / Math.max(1, result.ok + result.errors + Object.values(result.refused).reduce((a, b) => a + b, 0));
        refusalRuns.push({ name, result, transactionsPerRefusal });
        lines.push(report(`refusals after the end, ${name}`, { ...figures(result), transactions_per_refusal: transactionsPerRefusal }));
      }
      const trivialAgain = await load(server.url, server.pid, TRIVIAL_BODY);
      lines.push(report('trivial { __typename }, again', figures(trivialAgain)));
      const trivialRate = (trivial.rate + trivialAgain.rate) / 2;
      const refusalRate = (run: LoadResult) => (run.refused.CAMPAIGN_FINISHED ?? 0) / run.seconds;

      const ratios = Object.fromEntries(refusalRuns.map((run) => [`refusals_vs_trivial_${run.name.split(' ')[0]}`, refusalRate(run.result) / trivialRate]));
      lines.push(report('ratios', ratios));
      const clean = (run: LoadResult) => run.errors === 0 && run.timeouts === 0 && run.connectionErrors === 0;
      const goals = {
        every_code_once: check.assigned === CODES && check.duplicates === 0 && check.inconsistencies === 0 && campaign.status === 'FINISHED',
        only_contract_codes: clean(sale) && refusalRuns.every((run) => clean(run.result) && run.result.ok === 0),
        [`p99<=${GOAL_P99_MS}ms`]: sale.p99 <= GOAL_P99_MS,
        [`rss<=${GOAL_RSS_MIB}MiB`]: saleRss <= GOAL_RSS_MIB,
        [`refusals>=${GOAL_REFUSALS_VS_TRIVIAL}*trivial`]: Object.values(ratios).every((ratio) => ratio >= GOAL_REFUSALS_VS_TRIVIAL),
        refusals_without_transactions: refusalRuns.every((run) => run.transactionsPerRefusal < 0.01),
      };
      lines.push(report('goals', goals));
      return { passed: Object.values(goals).every(Boolean), lines };
    } finally {
      await pool.end();
      await other.stop();
      await server.stop();
      await dropBenchDatabase(server.databaseUrl);
    }
  },
};
