import { benchGraphQL, report } from '../lib/server.js';
import {
  checkList,
  claimBody,
  explainCodeRead,
  httpLoad,
  seedCampaign,
  seedOtherLists,
  seedUniqueList,
  settleDatabase,
  type LoadResult,
  withClaimServer,
} from '../lib/claim-load.js';

const BIG_CODES = Number(process.env.BENCH_BIG_LIST_CODES ?? 20_000_000);
/** Codes of the big list already handed out before the measurement (its cursor starts there). */
const BIG_USED = Number(process.env.BENCH_BIG_LIST_USED ?? Math.floor(BIG_CODES / 2));
const BASE_CODES = 200_000;
const OTHER_LISTS = Number(process.env.BENCH_BIG_OTHER_LISTS ?? 1000);
const CONNECTIONS = 64;
const SECONDS = Number(process.env.BENCH_BIG_SECONDS ?? 10);
const LOOKUPS = Number(process.env.BENCH_BIG_LOOKUPS ?? 1000);
const GOAL_VS_BASE = 0.9;
const GOAL_LOOKUP_P99_MS = 20;

const figures = (result: LoadResult) => ({
  per_s: Math.round(result.rate),
  p50_ms: result.p50,
  p99_ms: result.p99,
  errors: result.errors,
  server_cpu_us_per_req: Math.round(result.serverCpuMicros ?? 0),
  machine_busy_pct: Math.round(result.machineBusy ?? 0),
});

/** Sequential lookups (one at a time, as a shop's checkout does): latency percentiles in ms. */
async function lookupLatencies(url: string, query: string, variables: Array<Record<string, unknown>>, check: (data: any) => boolean) {
  const times: number[] = [];
  for (const vars of variables) {
    const started = performance.now();
    const data = await benchGraphQL(url, query, vars);
    times.push(performance.now() - started);
    if (!check(data)) throw new Error(`lookup found nothing for ${JSON.stringify(vars)}`);
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? 0;
  return { lookups: times.length, p50_ms: at(0.5), p99_ms: at(0.99), max_ms: times[times.length - 1] ?? 0 };
}

/**
 * One list of BIG_CODES codes (BIG_USED of them handed out already) among OTHER_LISTS other
 * lists with campaigns: claims on it against claims on a 200,000-code list in the same run;
 * then `userCoupons` for users who got a code from it, and `couponCode` once the API has it.
 */
export const scenario = {
  name: 'big-list',
  async run(): Promise<{ passed: boolean; lines: string[] }> {
    const lines: string[] = [];
    return withClaimServer(async ({ server, pool, key }) => {
      const seeding = performance.now();
      await seedOtherLists(pool, OTHER_LISTS, 100);
      const bigList = await seedUniqueList(pool, 'bench big', BIG_CODES, BIG_USED);
      const bigCampaign = await seedCampaign(pool, 'bench big', [bigList]);
      const baseList = await seedUniqueList(pool, 'bench 200k', BASE_CODES);
      const baseCampaign = await seedCampaign(pool, 'bench 200k', [baseList]);
      await pool.query('ANALYZE TABLE coupon_codes');
      // What the buffer pool must hold for such a list (InnoDB's estimates, after ANALYZE).
      const [[size]] = await pool.query<any[]>(
        "SELECT data_length AS data, index_length AS indexes FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'coupon_codes'",
      );
      lines.push(
        report('seeded', {
          big_list_codes: BIG_CODES,
          big_list_used: BIG_USED,
          other_lists: OTHER_LISTS,
          seconds: (performance.now() - seeding) / 1000,
          coupon_codes_data_mib: Number(size.data) / 2 ** 20,
          coupon_codes_index_mib: Number(size.indexes) / 2 ** 20,
        }),
      );
      const plan = await explainCodeRead(pool, bigList, BIG_USED, BIG_CODES);
      lines.push(report('code read plan, big list', plan));
      await settleDatabase(pool, 120);

      const load = (campaignId: string, prefix: string, seconds = SECONDS) =>
        httpLoad({ url: server.url, pid: server.pid, key, connections: CONNECTIONS, seconds, body: claimBody(campaignId, prefix) });
      await load(baseCampaign, 'warm', 3);
      const base = await load(baseCampaign, 'base');
      lines.push(report('claims, 200,000-code list', figures(base)));
      await load(bigCampaign, 'warm', 2);
      const big = await load(bigCampaign, 'big');
      lines.push(report(`claims, ${BIG_CODES.toLocaleString('en')}-code list`, figures(big)));
      const baseAgain = await load(baseCampaign, 'again');
      lines.push(report('claims, 200,000-code list, again', figures(baseAgain)));
      const bigCheck = await checkList(pool, bigList, BIG_USED);
      const baseCheck = await checkList(pool, baseList);

      // Lookups of users who got a code from the big list (each request of the load was another user).
      const users = Array.from({ length: LOOKUPS }, (_, i) => ({ userId: `big-${Math.floor((i * big.ok) / LOOKUPS)}` }));
      const userCoupons = await lookupLatencies(server.url, 'query($userId: String!) { userCoupons(userId: $userId) { id code listId assignedAt expiresAt } }', users, (data) => data.userCoupons.length > 0);
      lines.push(report('userCoupons, users of the big list', { ...userCoupons, goal: `p99<${GOAL_LOOKUP_P99_MS}` }));

      // couponCode(code) comes with redemptions; measured here as soon as the schema has it.
      const COUPON_CODE = 'query($code: String!) { couponCode(code: $code) { code listId state } }';
      const hasCouponCode = await benchGraphQL(server.url, COUPON_CODE, { code: `L${bigList}-1` }).then(
        () => true,
        (error: Error) => (/Cannot query field/.test(error.message) ? false : Promise.reject(error)),
      );
      let couponCode: Awaited<ReturnType<typeof lookupLatencies>> | null = null;
      if (hasCouponCode) {
        const codes = Array.from({ length: LOOKUPS }, (_, i) => ({ code: `L${bigList}-${1 + Math.floor((i * (BIG_CODES - 1)) / LOOKUPS)}` }));
        couponCode = await lookupLatencies(server.url, COUPON_CODE, codes, (data) => data.couponCode.length > 0);
        lines.push(report('couponCode, codes of the big list', { ...couponCode, goal: `p99<${GOAL_LOOKUP_P99_MS}` }));
      } else {
        lines.push(report('couponCode', { skipped: 'not in this API yet' }));
      }

      const baseRate = (base.rate + baseAgain.rate) / 2;
      const ratios = { big_vs_base: big.rate / baseRate };
      lines.push(report('ratios', ratios));
      const goals = {
        [`big>=${GOAL_VS_BASE}*base`]: ratios.big_vs_base >= GOAL_VS_BASE,
        [`userCoupons_p99<${GOAL_LOOKUP_P99_MS}ms`]: userCoupons.p99_ms < GOAL_LOOKUP_P99_MS,
        ...(couponCode ? { [`couponCode_p99<${GOAL_LOOKUP_P99_MS}ms`]: couponCode.p99_ms < GOAL_LOOKUP_P99_MS } : {}),
        zero_errors: [base, big, baseAgain].every((result) => result.errors === 0 && result.reused === 0),
        zero_duplicates: [bigCheck, baseCheck].every((check) => check.duplicates === 0 && check.inconsistencies === 0),
        code_read_is_pk_range: plan.key === 'PRIMARY' && plan.type === 'range',
      };
      lines.push(report('goals', goals));
      return { passed: Object.values(goals).every(Boolean), lines };
    });
  },
};
