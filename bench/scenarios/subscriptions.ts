import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import { createClient, type Client } from 'graphql-ws';
import type mysql from 'mysql2/promise';
import WebSocket from 'ws';
import { benchPool, seedCampaign } from '../lib/claim-load.js';
import { benchGraphQL, dropBenchDatabase, report, startBenchServer } from '../lib/server.js';

const LISTS = 1000;
const SUBSCRIBERS = 1000;
const LISTS_PER_CAMPAIGN = 100;
const CODES_PER_LIST = 1000;
const CONNECTIONS = 64;
const WARMUP_SECONDS = 3;
const SECONDS = Number(process.env.BENCH_SUBSCRIPTION_SECONDS ?? 6);
const ROUNDS = Number(process.env.BENCH_SUBSCRIPTION_ROUNDS ?? 3);
const P99_GOAL_MS = 500;
const RATE_KEEP_GOAL = 0.9;

const CLAIM = 'mutation($input: ClaimCouponInput!) { claimCoupon(input: $input) { code listId } }';
const WATCH = 'subscription($ids: [ID!]) { couponListAvailability(listIds: $ids) { listId totalCodes assignedCodes availableCodes status at } }';

interface ClaimRecord {
  list: number;
  seq: number;
  sentAt: number;
  answeredAt: number;
}

interface LoadFigures {
  rate: number;
  ok: number;
  errors: number;
  firstError?: string;
}

/** Lists, their codes (`L<listId>-<seq>`, handed out in seq order) and campaigns of 100 lists each. */
async function seed(pool: mysql.Pool): Promise<{ listIds: string[]; campaignOf: string[] }> {
  const names = Array.from({ length: LISTS }, (_, i) => [`live ${i}`, 'UNIQUE', '[]']);
  await pool.query('INSERT INTO coupon_lists (name, kind, alert_emails) VALUES ?', [names]);
  const [rows] = await pool.query<any[]>(`SELECT id FROM coupon_lists WHERE name LIKE 'live %' ORDER BY id`);
  const listIds = rows.map((row) => String(row.id));
  await pool.query(
    `INSERT INTO coupon_codes (list_id, seq, code)
     SELECT l.id, s.seq, CONCAT('L', l.id, '-', s.seq) FROM coupon_lists l JOIN seq_1_to_${CODES_PER_LIST} s WHERE l.name LIKE 'live %'`,
  );
  await pool.query(`UPDATE coupon_lists SET visible_seq = ?, total_codes = ? WHERE name LIKE 'live %'`, [CODES_PER_LIST, CODES_PER_LIST]);
  const campaignOf: string[] = [];
  for (let start = 0; start < LISTS; start += LISTS_PER_CAMPAIGN) {
    const campaignId = await seedCampaign(pool, `live ${start}`, listIds.slice(start, start + LISTS_PER_CAMPAIGN));
    for (let i = start; i < Math.min(LISTS, start + LISTS_PER_CAMPAIGN); i++) campaignOf[i] = campaignId;
  }
  return { listIds, campaignOf };
}

/**
 * `CONNECTIONS` keep-alive HTTP clients claiming round-robin over every list, each request another
 * user. `record` receives every successful claim with when it was sent and answered.
 */
async function claimLoad(
  url: string,
  key: string,
  lists: { listIds: string[]; campaignOf: string[] },
  phase: string,
  seconds: number,
  record?: (claim: ClaimRecord) => void,
): Promise<LoadFigures> {
  let sent = 0;
  let ok = 0;
  let errors = 0;
  let firstError: string | undefined;
  const listIndex = new Map(lists.listIds.map((id, index) => [id, index]));
  const started = performance.now();
  const result = await autocannon({
    url: `${url}/graphql`,
    connections: CONNECTIONS,
    duration: seconds,
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    requests: [
      {
        setupRequest: (request, context) => {
          const n = sent++;
          const list = n % LISTS;
          (context as { sentAt?: number }).sentAt = performance.now();
          return {
            ...request,
            body: JSON.stringify({ query: CLAIM, variables: { input: { campaignId: lists.campaignOf[list], listId: lists.listIds[list], userId: `${phase}-${n}` } } }),
          };
        },
        onResponse: (status, body, context) => {
          const answeredAt = performance.now();
          const match = /"code":"L(\d+)-(\d+)"/.exec(body);
          if (status !== 200 || !match) {
            errors++;
            firstError ??= `${status} ${body.slice(0, 300)}`;
            return;
          }
          ok++;
          record?.({ list: listIndex.get(match[1]) ?? -1, seq: Number(match[2]), sentAt: (context as { sentAt: number }).sentAt, answeredAt });
        },
      },
    ],
  });
  const elapsed = (performance.now() - started) / 1000;
  return { rate: ok / elapsed, ok, errors: errors + result.errors, firstError };
}

/** One dashboard per list: its own WebSocket, watching that list. */
async function openSubscribers(url: string, key: string, listIds: string[], onUpdate: (list: number, assigned: number) => void): Promise<Client[]> {
  const clients: Client[] = [];
  for (let start = 0; start < SUBSCRIBERS; start += 100) {
    const batch = listIds.slice(start, Math.min(SUBSCRIBERS, start + 100)).map(
      (listId, offset) =>
        new Promise<Client>((resolve, reject) => {
          const client = createClient({
            url: `${url.replace(/^http/, 'ws')}/graphql`,
            webSocketImpl: WebSocket,
            connectionParams: { authorization: `Bearer ${key}` },
            retryAttempts: 0,
            lazy: false,
            onNonLazyError: reject,
            on: { connected: () => resolve(client) },
          });
          client.subscribe<{ couponListAvailability: { assignedCodes: number } }>(
            { query: WATCH, variables: { ids: [listId] } },
            {
              next: (result) => {
                if (result.data) onUpdate(start + offset, result.data.couponListAvailability.assignedCodes);
              },
              error: (error) => console.warn(`  subscription error: ${JSON.stringify(error).slice(0, 200)}`),
              complete: () => undefined,
            },
          );
        }),
    );
    clients.push(...(await Promise.all(batch)));
  }
  return clients;
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** CPU time (user + system) the process has used so far, in ms. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in clock ticks (100/s)
}

interface Window extends LoadFigures {
  serverCpuMsPerClaim: number;
  /** This process: the HTTP load and, in "with" windows, the 1,000 WebSocket clients. */
  benchCpuMsPerClaim: number;
}

async function measured(pid: number, load: () => Promise<LoadFigures>): Promise<Window> {
  const serverBefore = cpuMs(pid);
  const benchBefore = cpuMs(process.pid);
  const figures = await load();
  const claims = Math.max(1, figures.ok);
  return { ...figures, serverCpuMsPerClaim: (cpuMs(pid) - serverBefore) / claims, benchCpuMsPerClaim: (cpuMs(process.pid) - benchBefore) / claims };
}

const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/**
 * 1,000 WebSocket subscribers on one API process (a real server process), each watching one of
 * 1,000 lists while 64 HTTP clients claim round-robin over those lists. Prints the delay from a
 * claim to the first update showing it, and claims/s with and without the subscribers.
 *
 * Windows without and with subscribers alternate (without, with, without, with, …, without), so
 * that drift and other load on the machine fall on both alike; each "with" window is compared
 * with the mean of the "without" windows around it, and the median of those ratios is the
 * figure. The server's CPU time per claim in each kind of window is printed too: it shows the
 * subscriptions' own cost independently of the machine's other load.
 *
 * Codes are handed out in seq order, so a claim answered with code `L<list>-<k>` is included in
 * every update of that list with assignedCodes >= k. The delay is measured from the claim's
 * answer (a lower bound: the commit is earlier) and from its request (an upper bound); the goal
 * is checked on the upper bound.
 */
export const scenario = {
  name: 'subscriptions',
  async run(): Promise<{ passed: boolean; lines: string[] }> {
    // One dashboard key for every subscriber: above the per-key socket cap a real deployment keeps.
    const server = await startBenchServer({ env: { WS_MAX_SOCKETS_PER_KEY: String(SUBSCRIBERS) } });
    const pool = benchPool(server.databaseUrl);
    const lines: string[] = [];
    let clients: Client[] = [];
    try {
      const claimKey = (await benchGraphQL(server.url, 'mutation { createApiKey(name: "widget", role: CLIENT) { secret } }')).createApiKey.secret as string;
      const viewerKey = (await benchGraphQL(server.url, 'mutation { createApiKey(name: "dashboard", role: VIEWER) { secret } }')).createApiKey.secret as string;
      const lists = await seed(pool);
      // Warm-up of both paths (JIT, pools), not measured.
      await claimLoad(server.url, claimKey, lists, 'warm', WARMUP_SECONDS);
      clients = await openSubscribers(server.url, viewerKey, lists.listIds, () => undefined);
      await claimLoad(server.url, claimKey, lists, 'warm-live', WARMUP_SECONDS);
      await Promise.all(clients.map((client) => client.dispose()));
      clients = [];

      const updates: Array<Array<[assigned: number, at: number]>> = Array.from({ length: LISTS }, () => []);
      const claims: Array<ClaimRecord & { shownAt: number | null }> = [];
      const without: Window[] = [];
      const withSubscribers: Window[] = [];
      let updatesDuringLoad = 0;
      let recording = false;
      let connectSeconds = 0;
      let subscribersUpdated = SUBSCRIBERS;

      for (let round = 0; round < ROUNDS; round++) {
        without.push(await measured(server.pid, () => claimLoad(server.url, claimKey, lists, `a${round}`, SECONDS)));

        const connectStarted = performance.now();
        for (const received of updates) received.length = 0;
        clients = await openSubscribers(server.url, viewerKey, lists.listIds, (list, assigned) => {
          updates[list].push([assigned, performance.now()]);
          if (recording) updatesDuringLoad++;
        });
        connectSeconds = Math.max(connectSeconds, (performance.now() - connectStarted) / 1000);
        await sleep(1000); // subscriptions are accepted asynchronously after the sockets connect
        await claimLoad(server.url, claimKey, lists, `warm${round}`, 1);

        const roundClaims: ClaimRecord[] = [];
        recording = true;
        withSubscribers.push(await measured(server.pid, () => claimLoad(server.url, claimKey, lists, `b${round}`, SECONDS, (claim) => roundClaims.push(claim))));
        recording = false;
        await sleep(1500); // the trailing updates
        claims.push(...delays(roundClaims, updates));
        // Every list was claimed from during the window, so every subscriber must have heard.
        subscribersUpdated = Math.min(subscribersUpdated, updates.filter((received) => received.length > 0).length);
        await Promise.all(clients.map((client) => client.dispose()));
        clients = [];
        await sleep(500);
      }
      without.push(await measured(server.pid, () => claimLoad(server.url, claimKey, lists, 'a-last', SECONDS)));

      const ratios = withSubscribers.map((window, round) => window.rate / ((without[round].rate + without[round + 1].rate) / 2));
      const errors = [...without, ...withSubscribers].reduce((sum, window) => sum + window.errors, 0);
      const firstError = [...without, ...withSubscribers].find((window) => window.firstError)?.firstError;
      if (firstError) console.log(`  first error: ${firstError}`);
      lines.push(
        report('claims without subscribers', {
          per_s: Math.round(mean(without.map((w) => w.rate))),
          windows: without.map((w) => Math.round(w.rate)).join('/'),
          server_cpu_ms_per_claim: mean(without.map((w) => w.serverCpuMsPerClaim)),
          bench_cpu_ms_per_claim: mean(without.map((w) => w.benchCpuMsPerClaim)),
        }),
      );
      lines.push(
        report('claims with 1,000 subscribers', {
          per_s: Math.round(mean(withSubscribers.map((w) => w.rate))),
          windows: withSubscribers.map((w) => Math.round(w.rate)).join('/'),
          server_cpu_ms_per_claim: mean(withSubscribers.map((w) => w.serverCpuMsPerClaim)),
          bench_cpu_ms_per_claim: mean(withSubscribers.map((w) => w.benchCpuMsPerClaim)),
          updates_per_s: Math.round(updatesDuringLoad / (SECONDS * ROUNDS)),
          subscribers_updated: subscribersUpdated,
          connect_s: connectSeconds,
        }),
      );

      const shown = claims.filter((claim) => claim.shownAt !== null);
      const unseen = claims.length - shown.length;
      const fromAnswer = shown.map((claim) => Math.max(0, claim.shownAt! - claim.answeredAt)).sort((a, b) => a - b);
      const fromRequest = shown.map((claim) => claim.shownAt! - claim.sentAt).sort((a, b) => a - b);
      lines.push(
        report('update delay', {
          from_answer_p50_ms: percentile(fromAnswer, 0.5),
          from_answer_p99_ms: percentile(fromAnswer, 0.99),
          from_request_p50_ms: percentile(fromRequest, 0.5),
          from_request_p99_ms: percentile(fromRequest, 0.99),
          claims: claims.length,
          claims_never_shown: unseen,
        }),
      );

      const keep = median(ratios);
      const p99 = percentile(fromRequest, 0.99);
      const goals = {
        'p99<500ms': p99 < P99_GOAL_MS,
        'claims_with>=90%_without': keep >= RATE_KEEP_GOAL,
        'every_claim_shown': unseen === 0,
        'every_subscriber_updated': subscribersUpdated === SUBSCRIBERS,
        'zero_errors': errors === 0,
      };
      lines.push(report('ratios', { with_vs_without: keep, per_round: ratios.map((ratio) => ratio.toFixed(3)).join('/') }));
      lines.push(report('goals', goals));
      lines.push(report('server', { peak_rss_mib: Math.round(server.peakRssMiB()) }));
      return { passed: Object.values(goals).every(Boolean), lines };
    } finally {
      await Promise.all(clients.map((client) => client.dispose()));
      await pool.end();
      await server.stop();
      await dropBenchDatabase(server.databaseUrl);
    }
  },
};

/** For each claim, when the first update of its list that includes it arrived (null: never). */
function delays(claims: ClaimRecord[], updates: Array<Array<[assigned: number, at: number]>>): Array<ClaimRecord & { shownAt: number | null }> {
  return claims.map((claim) => {
    const shown = updates[claim.list]?.find(([assigned, at]) => assigned >= claim.seq && at >= claim.sentAt);
    return { ...claim, shownAt: shown ? shown[1] : null };
  });
}
