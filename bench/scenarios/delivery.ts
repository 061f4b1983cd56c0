import { readdirSync, readFileSync } from 'node:fs';
import type mysql from 'mysql2/promise';
import { startLatencyGateway } from '../lib/latency-gateway.js';
import { benchPool, claimBody, httpLoad, seedCampaign, seedUniqueList, type LoadResult } from '../lib/claim-load.js';
import { benchGraphQL, dropBenchDatabase, report, startBenchServer, startBenchWorker } from '../lib/server.js';

const USERS = Number(process.env.BENCH_DELIVERY_USERS ?? 100_000);
const PER_CALL = 10_000;
const GATEWAY_LATENCY_MS = 20;
const WIDGET_CONNECTIONS = 16;
const WIDGET_SECONDS = Number(process.env.BENCH_DELIVERY_WIDGET_SECONDS ?? 10);
const SEND_GOAL_PER_S = 2000;
const WIDGET_KEEP_GOAL = 0.8;
const TIME_LIMIT_MS = 180_000;
/** API and job workers in two processes (ROLE=api + ROLE=worker), as a deployment runs them (BENCH_DELIVERY_SPLIT=0: one ROLE=all process). */
const SPLIT = process.env.BENCH_DELIVERY_SPLIT !== '0';
/**
 * CPU priority (nice) of the worker process: on a host shared with the API, background jobs run
 * below interactive requests, as any batch work should (BENCH_DELIVERY_WORKER_NICE=0: same priority).
 */
const WORKER_NICE = Number(process.env.BENCH_DELIVERY_WORKER_NICE ?? 10);

/** CPU seconds (user + system) used so far by a process. */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** The database and Redis servers of the bench when they run on this machine, to account their CPU too. */
function serverPids(databaseUrl: string, redisUrl: string): Record<string, number> {
  const dbPort = new URL(databaseUrl).port || '3306';
  const redisPort = new URL(redisUrl).port || '6379';
  const found: Record<string, number> = {};
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const name = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      if ((name === 'mariadbd' || name === 'mysqld') && args.includes(`--port=${dbPort}`)) found.db = Number(entry);
      if (name === 'redis-server' && (args.includes(`:${redisPort}`) || args.includes(`--port ${redisPort}`))) found.redis = Number(entry);
    } catch {
      // gone
    }
  }
  return found;
}

class CpuMeter {
  private start: Record<string, number> = {};
  constructor(private readonly pids: Record<string, number>) {}
  begin(): void {
    this.start = Object.fromEntries(Object.entries(this.pids).map(([name, pid]) => [name, cpuSeconds(pid)]));
  }
  /** CPU milliseconds per unit of work since begin(), by process. */
  perUnit(units: number): Record<string, number> {
    return Object.fromEntries(Object.entries(this.pids).map(([name, pid]) => [`${name}_cpu_ms`, ((cpuSeconds(pid) - this.start[name]) * 1000) / units]));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function count(pool: mysql.Pool, sql: string, params: unknown[] = []): Promise<number> {
  const [rows] = await pool.query<any[]>(sql, params);
  return Number(Object.values(rows[0])[0]);
}

/**
 * Bulk distribution with SMS on: 100,000 users (10 distributeCoupons calls of 10,000) against a
 * gateway (a process of its own) answering in 20 ms, on server processes started as `npm start`
 * starts them: an API process and a worker process of one deployment. Measures sends per second
 * end to end (first call to last delivery SENT), and the claimCoupon rate of widgets on another
 * campaign (16 HTTP clients, as fast as they are answered) while the distribution runs, against
 * their rate without it (measured before and after; the mean cancels drift). Also prints the CPU
 * each process spends per widget claim and per send.
 */
export const scenario = {
  name: 'delivery',
  async run(): Promise<{ passed: boolean; lines: string[] }> {
    const gateway = await startLatencyGateway(GATEWAY_LATENCY_MS);
    const env = { SMS_WEBHOOK_URL: gateway.url };
    const server = await startBenchServer({ env: { ...env, LOG_LEVEL: 'warn', ROLE: SPLIT ? 'api' : 'all' } });
    const worker = SPLIT ? await startBenchWorker(server, env, WORKER_NICE) : null;
    const pool = benchPool(server.databaseUrl);
    const lines: string[] = [];
    try {
      const gql = (query: string, variables: Record<string, unknown> = {}) => benchGraphQL(server.url, query, variables);
      const widgetKey = (await gql('mutation { createApiKey(name: "widget", role: CLIENT) { secret } }')).createApiKey.secret as string;

      // The distribution: a list with more codes than users, SMS on, an AUTOMATED campaign.
      const listId = await seedUniqueList(pool, 'bench delivery', USERS + 10_000);
      const message = await gql('mutation { createTransactionalMessage(input: { channel: SMS, name: "Bench", body: "Your code {couponcode} is valid until {expirydate}" }) { id } }');
      await gql('mutation($listId: ID!, $input: DeliverySettingsInput!) { setListDelivery(listId: $listId, input: $input) { id } }', {
        listId,
        input: { smsMessageId: message.createTransactionalMessage.id, smsEnabled: true },
      });
      const campaignId = (await gql('mutation($input: CreateCampaignInput!) { createCampaign(input: $input) { id } }', {
        input: { name: 'bench automated', kind: 'AUTOMATED', listIds: [listId] },
      })).createCampaign.id as string;
      await pool.query(
        `INSERT INTO user_profiles (user_id, phone_number, attributes) SELECT CONCAT('bulk-', seq), CONCAT('+4915', LPAD(seq, 9, '0')), '{}' FROM seq_1_to_${USERS}`,
      );

      // The widgets: another list and campaign, no delivery.
      const widgetList = await seedUniqueList(pool, 'bench widget', 1_000_000);
      const widgetCampaign = await seedCampaign(pool, 'bench widget', [widgetList]);
      // Let the database write out the seeding first, then warm up.
      await sleep(5000);
      await httpLoad({ url: server.url, key: widgetKey, connections: WIDGET_CONNECTIONS, seconds: 5, body: claimBody(widgetCampaign, 'warm') });
      lines.push(report('deployment', { processes: SPLIT ? 'api+worker' : 'all-in-one', worker_nice: SPLIT ? WORKER_NICE : 0, widget_connections: WIDGET_CONNECTIONS }));
      const pids: Record<string, number> = { api: server.pid, ...(worker ? { worker: worker.pid } : {}), bench: process.pid, gateway: gateway.pid, ...serverPids(server.databaseUrl, server.redisUrl) };
      const meter = new CpuMeter(pids);
      meter.begin();
      const alone = await httpLoad({ url: server.url, key: widgetKey, connections: WIDGET_CONNECTIONS, seconds: WIDGET_SECONDS, body: claimBody(widgetCampaign, 'alone') });
      lines.push(report('widget claims alone (before)', { per_s: Math.round(alone.rate), p99_ms: alone.p99, errors: alone.errors, ...meter.perUnit(alone.ok) }));

      // The distribution, with widget claims running alongside once it is under way.
      const started = performance.now();
      const jobIds: string[] = [];
      for (let start = 0; start < USERS; start += PER_CALL) {
        const userIds = Array.from({ length: Math.min(PER_CALL, USERS - start) }, (_, i) => `bulk-${start + i + 1}`);
        const job = await gql('mutation($campaignId: ID!, $userIds: [String!]!) { distributeCoupons(campaignId: $campaignId, userIds: $userIds) { id } }', { campaignId, userIds });
        jobIds.push(job.distributeCoupons.id);
      }
      const callsSeconds = (performance.now() - started) / 1000;
      await sleep(2000);
      const sentBeforeWidgets = (await gateway.stats()).distinctKeys;
      const during: LoadResult = await httpLoad({ url: server.url, key: widgetKey, connections: WIDGET_CONNECTIONS, seconds: WIDGET_SECONDS, body: claimBody(widgetCampaign, 'during') });
      const sentDuringWidgets = (await gateway.stats()).distinctKeys - sentBeforeWidgets;
      lines.push(report('widget claims during distribution', { per_s: Math.round(during.rate), p99_ms: during.p99, errors: during.errors, sends_meanwhile: sentDuringWidgets }));
      if (during.firstError) console.log(`  first error: ${during.firstError}`);

      // CPU per send once the widgets have stopped (the distribution alone).
      meter.begin();
      const sentAfterWidgets = (await gateway.stats()).distinctKeys;
      // Progress is watched at the gateway; the database (a full count, itself a load) only every
      // 2 s, or each time once the gateway has seen everyone.
      let sent = 0;
      for (let round = 0; ; round++) {
        if ((await gateway.stats()).distinctKeys >= USERS || round % 20 === 0) {
          const [rows] = await pool.query<any[]>(`SELECT COALESCE(SUM(status = 'SENT'), 0) AS sent, COALESCE(SUM(status <> 'PENDING'), 0) AS final FROM deliveries`);
          sent = Number(rows[0].sent);
          if (Number(rows[0].final) >= USERS) break;
        }
        if (performance.now() - started > TIME_LIMIT_MS) break;
        await sleep(100);
      }
      const seconds = (performance.now() - started) / 1000;
      const atGateway = await gateway.stats();
      const perSend = meter.perUnit(Math.max(1, atGateway.distinctKeys - sentAfterWidgets));
      const sendsPerSecond = sent / seconds;

      const jobs: Array<{ status: string; assigned: number; notServed: number; failed: number }> = [];
      for (const id of jobIds) jobs.push((await gql('query($id: ID!) { distributionJob(id: $id) { status assigned notServed failed } }', { id })).distributionJob);
      const assigned = jobs.reduce((sum, job) => sum + job.assigned, 0);
      const failedDeliveries = await count(pool, `SELECT COUNT(*) FROM deliveries WHERE status = 'FAILED'`);
      const duplicateCodes = await count(pool, 'SELECT COUNT(*) - COUNT(DISTINCT code) FROM coupon_assignments WHERE list_id = ?', [listId]);
      lines.push(
        report('distribution', {
          users: USERS,
          calls_s: callsSeconds,
          seconds,
          sends_per_s: Math.round(sendsPerSecond),
          sent,
          failed: failedDeliveries,
          assigned,
          gateway_requests: atGateway.requests,
          distinct_keys: atGateway.distinctKeys,
          malformed: atGateway.malformed,
          duplicate_codes: duplicateCodes,
          jobs_completed: jobs.filter((job) => job.status === 'COMPLETED').length,
        }),
      );
      lines.push(report('cpu per send (distribution alone)', perSend));
      // The rate without the distribution, measured before and after it: the mean cancels drift.
      await sleep(3000);
      const after = await httpLoad({ url: server.url, key: widgetKey, connections: WIDGET_CONNECTIONS, seconds: WIDGET_SECONDS, body: claimBody(widgetCampaign, 'after') });
      lines.push(report('widget claims alone (after)', { per_s: Math.round(after.rate), p99_ms: after.p99, errors: after.errors }));
      const keep = during.rate / ((alone.rate + after.rate) / 2);
      lines.push(report('widget rate kept', { ratio: keep }));
      const goals = {
        [`sends>=${SEND_GOAL_PER_S}/s`]: sendsPerSecond >= SEND_GOAL_PER_S,
        'widgets_keep>=80%': keep >= WIDGET_KEEP_GOAL,
        all_sent_once: sent === USERS && atGateway.distinctKeys === USERS && atGateway.requests === USERS && atGateway.malformed === 0,
        all_assigned: assigned === USERS && duplicateCodes === 0,
        widget_errors_0: alone.errors === 0 && during.errors === 0 && after.errors === 0,
      };
      lines.push(report('goals', goals));
      lines.push(report('server', { peak_rss_mib: Math.round(server.peakRssMiB()) }));
      return { passed: Object.values(goals).every(Boolean), lines };
    } finally {
      await pool.end();
      await worker?.stop();
      await server.stop();
      await gateway.stop();
      await dropBenchDatabase(server.databaseUrl);
    }
  },
};
