import { report } from '../lib/server.js';
import { parseDatabaseUrl } from '../../src/config/database-url.js';
import { checkList, databaseServerPid, httpLoad, seedOtherLists, settleDatabase, TRIVIAL_BODY, type LoadResult, withClaimServer } from '../lib/claim-load.js';

const CAMPAIGNS = Number(process.env.BENCH_MANY_CAMPAIGNS ?? 200);
const CONNECTIONS_EACH = Number(process.env.BENCH_MANY_CONNECTIONS_EACH ?? 5);
const CODES_EACH = Number(process.env.BENCH_MANY_CODES_EACH ?? 5000);
const SECONDS = Number(process.env.BENCH_MANY_SECONDS ?? 10);
const GOAL_VS_TRIVIAL = 0.5;

const CLAIM = 'mutation($input: ClaimCouponInput!) { claimCoupon(input: $input) { id code listId campaignId userId externalId assignedAt expiresAt reused } }';

const figures = (result: LoadResult) => ({
  per_s: Math.round(result.rate),
  ok: result.ok,
  errors: result.errors,
  timeouts: result.timeouts,
  p50_ms: result.p50,
  p99_ms: result.p99,
  max_ms: result.max,
  ...(result.serverCpuMicros === undefined ? {} : { server_cpu_us_per_req: Math.round(result.serverCpuMicros) }),
  ...(result.databaseCpuMicros === undefined ? {} : { database_cpu_us_per_req: Math.round(result.databaseCpuMicros) }),
  machine_busy_pct: Math.round(result.machineBusy ?? 0),
});

/**
 * Many campaigns at once: CAMPAIGNS campaigns, each with its own list, claimed by
 * CAMPAIGNS × CONNECTIONS_EACH HTTP connections (request n goes to campaign n mod CAMPAIGNS,
 * so each campaign has about CONNECTIONS_EACH claims in flight), against the trivial query at
 * the same concurrency on the same server. Counts deadlock errors among the answers, and checks
 * every list afterwards.
 */
export const scenario = {
  name: 'many-campaigns',
  async run(): Promise<{ passed: boolean; lines: string[] }> {
    const lines: string[] = [];
    const connections = CAMPAIGNS * CONNECTIONS_EACH;
    return withClaimServer(async ({ server, pool, key }) => {
      const campaignIds = await seedOtherLists(pool, CAMPAIGNS, CODES_EACH);
      const { host, port } = parseDatabaseUrl(server.databaseUrl);
      const databasePid = await databaseServerPid(host, port);
      await settleDatabase(pool);
      const body = (prefix: string) => (n: number) =>
        JSON.stringify({ query: CLAIM, variables: { input: { campaignId: campaignIds[n % CAMPAIGNS], userId: `${prefix}-${n}` } } });
      const load = (requestBody: (n: number) => string, seconds = SECONDS) =>
        httpLoad({ url: server.url, pid: server.pid, databasePid, key, connections, seconds, body: requestBody });

      await load(TRIVIAL_BODY, 2);
      const trivial = await load(TRIVIAL_BODY);
      lines.push(report(`trivial { __typename }, ${connections} connections`, figures(trivial)));
      await load(body('warm'), 2);
      const claims = await load(body('user'));
      lines.push(report(`claims, ${CAMPAIGNS} campaigns x ${CONNECTIONS_EACH} connections`, figures(claims)));
      if (claims.firstError) console.log(`  first error: ${claims.firstError}`);
      const trivialAgain = await load(TRIVIAL_BODY);
      lines.push(report('trivial { __typename }, again', figures(trivialAgain)));

      const [lists] = await pool.query<any[]>(
        'SELECT cl.list_id FROM campaign_lists cl WHERE cl.campaign_id IN (?)',
        [campaignIds],
      );
      let duplicates = 0;
      let inconsistencies = 0;
      for (const row of lists) {
        const check = await checkList(pool, String(row.list_id));
        duplicates += check.duplicates;
        inconsistencies += check.inconsistencies;
      }
      const deadlocks = /deadlock|lock wait timeout/i.test(claims.firstError ?? '') ? claims.errors : 0;
      const ratio = claims.rate / ((trivial.rate + trivialAgain.rate) / 2);
      lines.push(report('ratios', { claims_vs_trivial: ratio }));
      const goals = {
        [`claims>=${GOAL_VS_TRIVIAL}*trivial`]: ratio >= GOAL_VS_TRIVIAL,
        no_deadlock_errors: deadlocks === 0,
        zero_errors: claims.errors === 0 && claims.reused === 0,
        zero_duplicates: duplicates === 0 && inconsistencies === 0,
      };
      lines.push(report('goals', goals));
      return { passed: Object.values(goals).every(Boolean), lines };
    });
  },
};
