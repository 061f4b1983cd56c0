import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { Agent } from 'undici';
import { startLatencyGateway, type LatencyGateway } from '../lib/latency-gateway.js';
import { parseDatabaseUrl } from '../../src/config/database-url.js';
import { benchPool, claimBody, databaseServerPid, httpLoad, processCpuMicros, seedCampaign, seedUniqueList, settleDatabase, type LoadResult } from '../lib/claim-load.js';
import { benchGraphQL, dropBenchDatabase, report, startBenchServer, startBenchWorker } from '../lib/server.js';

const CONNECTIONS = 64;
const SECONDS = Number(process.env.BENCH_WEBHOOK_SECONDS ?? 10);
/** Messages pushed through one endpoint for the delivery rate. */
const MESSAGES = Number(process.env.BENCH_WEBHOOK_MESSAGES ?? 30_000);
const RECEIVER_LATENCY_MS = 20;
const RATE_GOAL_PER_S = 2000;
/** Claims per second of the fixed-rate loads: what webhooks cost per message, whatever else runs on the machine. */
const FIXED_RATE = Number(process.env.BENCH_WEBHOOK_FIXED_RATE ?? 400);
const CLAIMS_KEEP_GOAL = 0.9;
/** Requests of the signed-request floor. */
const FLOOR_REQUESTS = 20_000;
/** Job workers below interactive requests on the shared host, as in the delivery benchmark (BENCH_WEBHOOK_WORKER_NICE=0: same priority). */
const WORKER_NICE = Number(process.env.BENCH_WEBHOOK_WORKER_NICE ?? 10);
/** The bench's receiver runs on this machine: private targets must be allowed in production mode. */
const ENV = { WEBHOOK_ALLOW_PRIVATE_URLS: 'true' };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** CPU time of the API, the worker and MariaDB so far (µs), to divide by claims or messages. */
function cpuMeter(pids: { api: number; worker: number; database: number | null }) {
  const read = () => ({ api: processCpuMicros(pids.api), worker: processCpuMicros(pids.worker), database: pids.database ? processCpuMicros(pids.database) : 0 });
  return () => {
    const before = read();
    return (count: number) => {
      const after = read();
      const per = (key: 'api' | 'worker' | 'database') => (after[key] - before[key]) / Math.max(1, count);
      return { api: per('api'), worker: per('worker'), database: per('database'), total: per('api') + per('worker') + per('database') };
    };
  };
}

const figures = (result: LoadResult, database: number) => ({
  per_s: Math.round(result.rate),
  p50_ms: result.p50,
  p99_ms: result.p99,
  errors: result.errors,
  api_cpu_us_per_claim: Math.round(result.serverCpuMicros ?? 0),
  worker_cpu_us_per_claim: Math.round(result.alsoCpuMicros ?? 0),
  database_cpu_us_per_claim: Math.round(database),
  bench_cpu_us_per_claim: Math.round(result.clientCpuMicros ?? 0),
  machine_busy_pct: Math.round(result.machineBusy ?? 0),
});

async function waitForReceiver(receiver: LatencyGateway, count: number, timeoutMs: number): Promise<{ seconds: number; requests: number; distinct: number; malformed: number }> {
  const started = performance.now();
  for (;;) {
    const stats = await receiver.stats();
    const seconds = (performance.now() - started) / 1000;
    if (stats.distinctKeys >= count || seconds * 1000 > timeoutMs) return { seconds, requests: stats.requests, distinct: stats.distinctKeys, malformed: stats.malformed };
    await sleep(100);
  }
}

/**
 * What one signed request costs whoever sends it, with nothing else to do: the bench process
 * posts `count` messages, signed by the standardwebhooks library, over undici (as the worker
 * does) to a receiver answering in 20 ms, 128 at a time; CPU of the bench process per request.
 */
async function signedRequestFloor(count: number): Promise<{ cpu_us_per_request: number; per_s: number; malformed: number }> {
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  const receiver = await startLatencyGateway(RECEIVER_LATENCY_MS, 'WEBHOOK', secret);
  const signer = new Webhook(secret);
  const agent = new Agent({ connections: 128 });
  const target = new URL(receiver.url.replace('/send', '/hooks'));
  try {
    const data = { assignmentId: '019ad5c4-2f1e-7a3b-8c4d-5e6f70819203', code: 'SPRING-7K2Q9X', listId: '12', campaignId: '7', userId: 'user-4711', externalId: null };
    let next = 0;
    const started = performance.now();
    const cpuBefore = process.cpuUsage();
    const sendUntilDone = async () => {
      while (next < count) {
        const id = `msg_floor${next++}`;
        const at = new Date();
        const body = JSON.stringify({ type: 'coupon.assigned', timestamp: at.toISOString(), data: { ...data, assignedAt: at.toISOString() } });
        const headers = { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': signer.sign(id, at, body) };
        const answer = await agent.request({ origin: target.origin, path: target.pathname, method: 'POST', headers, body });
        await answer.body.dump();
      }
    };
    await Promise.all(Array.from({ length: 128 }, sendUntilDone));
    const cpu = process.cpuUsage(cpuBefore);
    const stats = await receiver.stats();
    return { cpu_us_per_request: Math.round((cpu.user + cpu.system) / count), per_s: Math.round(count / ((performance.now() - started) / 1000)), malformed: stats.malformed };
  } finally {
    await agent.close();
    await receiver.stop();
  }
}

/**
 * Webhooks under load, API and job workers in two processes as a deployment runs them:
 * 1. claimCoupon at 64 connections without an endpoint, with a `coupon.assigned` endpoint
 *    (a receiver answering in 20 ms), and without again: claims must keep ≥ 90 %; between them
 *    claims at a fixed FIXED_RATE without and with the endpoint, for the CPU (API, worker,
 *    MariaDB) one message costs until it is delivered, a figure that other load on the machine
 *    hardly moves;
 * 2. MESSAGES messages through one endpoint answering in 20 ms: ≥ 2,000 per second, every one
 *    delivered, signed (the receiver verifies each with the standardwebhooks library);
 * 3. the floor: what one signed request costs its sender alone, against the ninth of a claim's
 *    CPU that claims keeping 90 % leaves a message on a saturated machine.
 */
export const scenario = {
  name: 'webhooks',
  async run(): Promise<{ passed: boolean; lines: string[] }> {
    const server = await startBenchServer({ env: { ...ENV, ROLE: 'api' } });
    const pool = benchPool(server.databaseUrl);
    const receivers: LatencyGateway[] = [];
    const lines: string[] = [];
    let worker: Awaited<ReturnType<typeof startBenchWorker>> | null = null;
    try {
      worker = await startBenchWorker(server, ENV, WORKER_NICE);
      const gql = (query: string, variables: Record<string, unknown> = {}) => benchGraphQL(server.url, query, variables);
      const key = (await gql('mutation { createApiKey(name: "widget", role: CLIENT) { secret } }')).createApiKey.secret as string;
      const createEndpoint = async (events: string[]) => {
        // The secret exists only once the endpoint does: the receiver is started with it, then the endpoint pointed at it.
        const created = (await gql('mutation($input: WebhookEndpointInput!) { createWebhookEndpoint(input: $input) { secret endpoint { id } } }', {
          input: { url: 'http://127.0.0.1:9/parked', events, description: 'bench' },
        })).createWebhookEndpoint;
        const receiver = await startLatencyGateway(RECEIVER_LATENCY_MS, 'WEBHOOK', created.secret);
        receivers.push(receiver);
        await gql('mutation($id: ID!, $url: String!) { updateWebhookEndpoint(id: $id, input: { url: $url }) { id } }', {
          id: created.endpoint.id,
          url: receiver.url.replace('/send', '/hooks'),
        });
        return { id: created.endpoint.id as string, receiver };
      };

      // 1. Claims without, with, and again without an endpoint for coupon.assigned.
      const listId = await seedUniqueList(pool, 'bench webhooks', 2_000_000);
      const campaignId = await seedCampaign(pool, 'bench webhooks', [listId]);
      await settleDatabase(pool);
      await httpLoad({ url: server.url, key, connections: CONNECTIONS, seconds: 3, body: claimBody(campaignId, 'warm') });
      const workerPid = worker.pid;
      const { host, port } = parseDatabaseUrl(server.databaseUrl);
      const meter = cpuMeter({ api: server.pid, worker: workerPid, database: await databaseServerPid(host, port) });
      // Claims under load, with CPU per claim of the API, the worker and MariaDB.
      const claimLoad = async (prefix: string, overallRate?: number) => {
        const measured = meter();
        const result = await httpLoad({ url: server.url, pid: server.pid, alsoPid: workerPid, key, connections: CONNECTIONS, seconds: SECONDS, body: claimBody(campaignId, prefix), overallRate });
        return { result, cpu: measured(result.ok + result.errors) };
      };
      const without = await claimLoad('without');
      lines.push(report('claims, no endpoint', figures(without.result, without.cpu.database)));
      // At a fixed rate the machine is not saturated: CPU per claim with and without an endpoint, the difference is what a message costs.
      const fixedWithout = await claimLoad('fixed-without', FIXED_RATE);
      const assigned = await createEndpoint(['COUPON_ASSIGNED']);
      const withAndDrain = meter();
      const withHook = await claimLoad('with');
      lines.push(report('claims, coupon.assigned endpoint (20 ms)', figures(withHook.result, withHook.cpu.database)));
      const drained = await waitForReceiver(assigned.receiver, withHook.result.ok, 120_000);
      // The claims' CPU and their messages' until the last was delivered, less what the same claims cost without an endpoint.
      const spent = withAndDrain(withHook.result.ok);
      lines.push(report('their messages delivered', {
        expected_at_least: withHook.result.ok,
        distinct: drained.distinct,
        requests: drained.requests,
        malformed: drained.malformed,
        drain_s: drained.seconds,
        worker_cpu_us_per_message: Math.round(spent.worker),
        database_cpu_us_per_message: Math.round(spent.database),
        extra_cpu_us_per_message: Math.round(spent.total - without.cpu.total),
      }));
      const fixedWithAndDrain = meter();
      const fixedWith = await claimLoad('fixed-with', FIXED_RATE);
      const fixedDrained = await waitForReceiver(assigned.receiver, drained.distinct + fixedWith.result.ok, 120_000);
      const fixedSpent = fixedWithAndDrain(fixedWith.result.ok);
      const perMessage = (key: 'api' | 'worker' | 'database' | 'total') => Math.round(fixedSpent[key] - fixedWithout.cpu[key]);
      lines.push(report(`claims at ${FIXED_RATE}/s, CPU per claim without and with the endpoint (until delivered)`, {
        without_per_s: Math.round(fixedWithout.result.rate),
        with_per_s: Math.round(fixedWith.result.rate),
        without_total_cpu_us: Math.round(fixedWithout.cpu.total),
        with_total_cpu_us: Math.round(fixedSpent.total),
        delivered: fixedDrained.distinct - drained.distinct,
        extra_api_us_per_message: perMessage('api'),
        extra_worker_us_per_message: perMessage('worker'),
        extra_database_us_per_message: perMessage('database'),
        extra_cpu_us_per_message: perMessage('total'),
      }));
      await gql('mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }', { id: assigned.id });
      const again = await claimLoad('again');
      lines.push(report('claims, no endpoint again', figures(again.result, again.cpu.database)));
      const keep = withHook.result.rate / ((without.result.rate + again.result.rate) / 2);

      // 2. The delivery rate: MESSAGES messages committed at once, sent to one endpoint.
      const rated = await createEndpoint(['LIST_LOW_STOCK']);
      await settleDatabase(pool);
      await pool.query(
        `INSERT INTO webhook_messages (message_id, event_type, payload, occurred_at)
         SELECT UUID(), 'LIST_LOW_STOCK', JSON_OBJECT('listId', '1', 'listName', 'bench', 'availableCodes', seq, 'warningLimit', 100), UTC_TIMESTAMP(3)
           FROM seq_1_to_${MESSAGES}`,
      );
      // Written behind the service's back (no wake-up): the sweep finds them, as it finds rows whose job was lost.
      const deliveryCpu = meter();
      const benchCpuBefore = process.cpuUsage();
      const delivery = await waitForReceiver(rated.receiver, MESSAGES, 300_000);
      const deliverySpent = deliveryCpu(delivery.distinct);
      const benchCpu = process.cpuUsage(benchCpuBefore);
      const rate = delivery.distinct / delivery.seconds;
      lines.push(report(`${MESSAGES} messages to one endpoint`, {
        per_s: Math.round(rate),
        seconds: delivery.seconds,
        distinct: delivery.distinct,
        requests: delivery.requests,
        malformed: delivery.malformed,
        worker_cpu_us_per_message: Math.round(deliverySpent.worker),
        database_cpu_us_per_message: Math.round(deliverySpent.database),
        receiver_cpu_us_per_message: Math.round((benchCpu.user + benchCpu.system) / Math.max(1, delivery.distinct)),
      }));
      // A round is recorded just after its answers arrived: wait a little for the last ones.
      let state: { delivered: number; other: number } = { delivered: 0, other: 0 };
      for (const until = Date.now() + 10_000; Date.now() < until; await sleep(100)) {
        [[state]] = await pool.query<any[]>(`SELECT SUM(status = 'DELIVERED') AS delivered, SUM(status <> 'DELIVERED') AS other FROM webhook_deliveries WHERE endpoint_id = ?`, [rated.id]);
        if (Number(state.delivered) === MESSAGES) break;
      }

      // 3. The floor of a delivery: one signed request and nothing else, against what the goal leaves a message.
      const floor = await signedRequestFloor(FLOOR_REQUESTS);
      lines.push(report('one signed request, nothing else (the bench process sending)', {
        ...floor,
        claim_cpu_us_at_fixed_rate: Math.round(fixedWithout.cpu.total),
        // Claims keep 90 % on a saturated machine only if a message costs at most a ninth of a claim.
        cpu_us_per_message_the_goal_allows: Math.round(fixedWithout.cpu.total / 9),
      }));

      const goals = {
        'claims_with_webhooks>=0.9': keep >= CLAIMS_KEEP_GOAL,
        [`delivery>=${RATE_GOAL_PER_S}/s`]: rate >= RATE_GOAL_PER_S,
        all_delivered_once_signed:
          delivery.distinct === MESSAGES &&
          delivery.malformed === 0 &&
          fixedDrained.malformed === 0 &&
          drained.distinct >= withHook.result.ok &&
          fixedDrained.distinct >= drained.distinct + fixedWith.result.ok,
        recorded: Number(state.delivered) === MESSAGES,
        zero_claim_errors: [without, fixedWithout, withHook, fixedWith, again].every((r) => r.result.errors === 0),
      };
      lines.push(report('ratios', { claims_with_vs_without: keep }));
      lines.push(report('goals', goals));
      return { passed: Object.values(goals).every(Boolean), lines };
    } finally {
      await pool.end();
      await worker?.stop();
      await server.stop();
      for (const receiver of receivers) await receiver.stop();
      await dropBenchDatabase(server.databaseUrl);
    }
  },
};
