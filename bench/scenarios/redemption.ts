import type mysql from 'mysql2/promise';
import { CodeLookupService } from '../../src/modules/redemptions/code-lookup.service.js';
import { benchPool, httpLoad, seedCampaign, seedUniqueList, settleDatabase, TRIVIAL_BODY, type LoadResult } from '../lib/claim-load.js';
import { benchGraphQL, dropBenchDatabase, report, startBenchServer } from '../lib/server.js';

/** Codes in the database (the goal is 20 million; BENCH_REDEMPTION_CODES sets what a run uses). */
const CODES = Number(process.env.BENCH_REDEMPTION_CODES ?? 20_000_000);
/** Codes assigned (one user each), the ones redeemCoupon can redeem. */
const ASSIGNED = Math.min(CODES, Number(process.env.BENCH_REDEMPTION_ASSIGNED ?? 300_000));
const SECONDS = Number(process.env.BENCH_REDEMPTION_SECONDS ?? 10);
const CONNECTIONS = 64;
/** Lookups come from checkouts and support tools, not a flood: the latency goal is taken at this many clients. */
const LOOKUP_CONNECTIONS = 16;
const LOOKUP_P99_GOAL_MS = 20;

const LOOKUP = 'query($code: String!) { couponCode(code: $code) { code listId state assignment { id userId } redemption { id redeemedAt } } }';
const USER_COUPONS = 'query($userId: String!) { userCoupons(userId: $userId, first: 20) { id code listId assignedAt } }';
const REDEEM = 'mutation($input: RedeemCouponInput!) { redeemCoupon(input: $input) { id assignmentId code userId orderId redeemedAt } }';

const figures = (result: LoadResult) => ({
  per_s: Math.round(result.rate),
  p50_ms: result.p50,
  p99_ms: result.p99,
  errors: result.errors,
  ...(result.serverCpuMicros === undefined ? {} : { server_cpu_us_per_req: Math.round(result.serverCpuMicros) }),
  ...(result.clientCpuMicros === undefined ? {} : { loadgen_cpu_us_per_req: Math.round(result.clientCpuMicros) }),
  ...(result.machineBusy === undefined ? {} : { machine_busy_pct: Math.round(result.machineBusy) }),
});

/** The first `count` codes of the list handed to users r1..r<count>, written as the claim path writes them. */
async function seedAssignments(pool: mysql.Pool, listId: string, campaignId: string, count: number): Promise<void> {
  const chunk = 100_000;
  for (let start = 1; start <= count; start += chunk) {
    const end = Math.min(count, start + chunk - 1);
    await pool.query(
      `INSERT INTO coupon_assignments (id, list_id, campaign_id, code_seq, code, user_id, external_id, assigned_at)
       SELECT UUID(), ?, ?, seq, CONCAT(?, seq), CONCAT('r', seq), NULL, UTC_TIMESTAMP(3) FROM seq_1_to_${count} WHERE seq BETWEEN ? AND ?`,
      [listId, campaignId, `L${listId}-`, start, end],
    );
  }
  await pool.query('UPDATE coupon_lists SET assigned_codes = ?, claim_cursor = ? WHERE id = ?', [count, count, listId]);
}

/** The lookup's own SQL straight over mysql2, one at a time: what the database alone needs. */
async function sqlLookupLatency(pool: mysql.Pool, prefix: string, samples: number): Promise<{ p50_ms: number; p99_ms: number }> {
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const code = `${prefix}${1 + Math.floor(Math.random() * CODES)}`;
    const started = performance.now();
    await Promise.all([pool.query(CodeLookupService.UNIQUE_CODES_SQL(1), [code]), pool.query(CodeLookupService.FIXED_LISTS_SQL(1), [code])]);
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return { p50_ms: times[Math.floor(samples * 0.5)], p99_ms: times[Math.floor(samples * 0.99)] };
}

/**
 * Code lookup among many codes (CODES in one list; the size is configurable, 20 million is the
 * goal) and redeemCoupon at 64 connections side by side with the trivial query on the same
 * server, with a check that every redemption is there exactly once and the list's counter is exact.
 */
export const scenario = {
  name: 'redemption',
  async run(): Promise<{ passed: boolean; lines: string[] }> {
    const server = await startBenchServer();
    const pool = benchPool(server.databaseUrl);
    const lines: string[] = [];
    try {
      const viewer = (await benchGraphQL(server.url, 'mutation { createApiKey(name: "support", role: VIEWER) { secret } }')).createApiKey.secret as string;
      const shop = (await benchGraphQL(server.url, 'mutation { createApiKey(name: "shop", role: CLIENT) { secret } }')).createApiKey.secret as string;

      const seedStarted = performance.now();
      const listId = await seedUniqueList(pool, 'bench redemption', CODES);
      const campaignId = await seedCampaign(pool, 'bench redemption', [listId]);
      await seedAssignments(pool, listId, campaignId, ASSIGNED);
      await pool.query('ANALYZE TABLE coupon_codes, coupon_assignments');
      const [[{ codes }]] = await pool.query<any[]>('SELECT COUNT(*) AS codes FROM coupon_codes');
      lines.push(report('seeded', { codes: Number(codes), assigned: ASSIGNED, seconds: Math.round((performance.now() - seedStarted) / 1000) }));
      const prefix = `L${listId}-`;

      const [plan] = await pool.query<any[]>(`EXPLAIN ${CodeLookupService.UNIQUE_CODES_SQL(1)}`, [`${prefix}1`]);
      const codesPlan = (plan as Array<{ table: string; type: string; key: string; rows: number }>).find((row) => row.table === 'c')!;
      lines.push(report('lookup plan (coupon_codes)', { type: codesPlan.type, key: codesPlan.key, rows: Number(codesPlan.rows) }));
      const settleStarted = performance.now();
      const { dirtyPages } = await settleDatabase(pool, 180);
      lines.push(report('settled', { seconds: Math.round((performance.now() - settleStarted) / 1000), dirty_pages_left: dirtyPages }));

      const lookupBody = () => JSON.stringify({ query: LOOKUP, variables: { code: `${prefix}${1 + Math.floor(Math.random() * CODES)}` } });
      await httpLoad({ url: server.url, pid: server.pid, key: viewer, connections: LOOKUP_CONNECTIONS, seconds: 2, body: lookupBody });
      const lookups = await httpLoad({ url: server.url, pid: server.pid, key: viewer, connections: LOOKUP_CONNECTIONS, seconds: SECONDS, body: lookupBody });
      lines.push(report(`couponCode, ${LOOKUP_CONNECTIONS} clients, random codes of ${CODES}`, figures(lookups)));
      const lookupsWide = await httpLoad({ url: server.url, pid: server.pid, key: viewer, connections: CONNECTIONS, seconds: SECONDS, body: lookupBody });
      lines.push(report(`couponCode, ${CONNECTIONS} clients`, figures(lookupsWide)));
      // A user's coupons on the same big list (users r1..r<ASSIGNED> hold one code each).
      const userBody = () => JSON.stringify({ query: USER_COUPONS, variables: { userId: `r${1 + Math.floor(Math.random() * ASSIGNED)}` } });
      await httpLoad({ url: server.url, pid: server.pid, key: viewer, connections: LOOKUP_CONNECTIONS, seconds: 2, body: userBody });
      const userCoupons = await httpLoad({ url: server.url, pid: server.pid, key: viewer, connections: LOOKUP_CONNECTIONS, seconds: SECONDS, body: userBody });
      lines.push(report(`userCoupons, ${LOOKUP_CONNECTIONS} clients, random users of ${ASSIGNED}`, figures(userCoupons)));
      const sql = await sqlLookupLatency(pool, prefix, 2000);
      lines.push(report('lookup SQL alone (mysql2, 1 at a time)', sql));

      await httpLoad({ url: server.url, pid: server.pid, key: shop, connections: CONNECTIONS, seconds: 1, body: TRIVIAL_BODY });
      const trivial = await httpLoad({ url: server.url, pid: server.pid, key: shop, connections: CONNECTIONS, seconds: SECONDS, body: TRIVIAL_BODY });
      lines.push(report('trivial { __typename }', figures(trivial)));

      // Every request redeems another assigned code for its user; a run that outruns the seeded assignments shows as errors.
      const redeemBody = (n: number) => JSON.stringify({ query: REDEEM, variables: { input: { code: `${prefix}${n + 1}`, userId: `r${n + 1}`, orderId: `order-${n + 1}` } } });
      const redeems = await httpLoad({ url: server.url, pid: server.pid, key: shop, connections: CONNECTIONS, seconds: SECONDS, body: redeemBody });
      lines.push(report('redeemCoupon, 64 clients', figures(redeems)));
      if (redeems.firstError) console.log(`  first error: ${redeems.firstError}`);
      const trivialAgain = await httpLoad({ url: server.url, pid: server.pid, key: shop, connections: CONNECTIONS, seconds: SECONDS, body: TRIVIAL_BODY });
      lines.push(report('trivial again', figures(trivialAgain)));

      const [[check]] = await pool.query<any[]>(
        `SELECT (SELECT COUNT(*) FROM coupon_redemptions WHERE list_id = ? AND live = 1) AS live,
                (SELECT COUNT(*) FROM (SELECT assignment_id FROM coupon_redemptions WHERE live = 1 GROUP BY assignment_id HAVING COUNT(*) > 1) d) AS doubled,
                (SELECT redeemed_codes FROM coupon_lists WHERE id = ?) AS counter`,
        [listId, listId],
      );
      lines.push(report('check', { live_redemptions: Number(check.live), answered: redeems.ok, doubled: Number(check.doubled), counter: Number(check.counter) }));

      const trivialRate = (trivial.rate + trivialAgain.rate) / 2;
      const ratios = {
        redeem_vs_trivial: redeems.rate / trivialRate,
        trivial_vs_redeem_server_cpu: (((trivial.serverCpuMicros ?? 0) + (trivialAgain.serverCpuMicros ?? 0)) / 2) / (redeems.serverCpuMicros ?? 1),
      };
      lines.push(report('ratios', ratios));
      const goals = {
        [`lookup_p99<${LOOKUP_P99_GOAL_MS}ms`]: lookups.p99 < LOOKUP_P99_GOAL_MS,
        [`userCoupons_p99<${LOOKUP_P99_GOAL_MS}ms`]: userCoupons.p99 < LOOKUP_P99_GOAL_MS,
        lookup_uses_index: codesPlan.type === 'ref' && codesPlan.key === 'idx_coupon_codes_code',
        'redeem>=0.5*trivial': ratios.redeem_vs_trivial >= 0.5,
        zero_errors: lookups.errors === 0 && userCoupons.errors === 0 && redeems.errors === 0,
        // Requests still in flight when the measurement ends complete afterwards: at least every answered one is there.
        exact: Number(check.live) >= redeems.ok && Number(check.counter) === Number(check.live) && Number(check.doubled) === 0,
      };
      lines.push(report('goals', goals));
      return { passed: Object.values(goals).every(Boolean), lines };
    } finally {
      await pool.end();
      await server.stop();
      await dropBenchDatabase(server.databaseUrl);
    }
  },
};
