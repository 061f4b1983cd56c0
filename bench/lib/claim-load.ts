import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import mysql from 'mysql2/promise';
import { v7 as uuidv7 } from 'uuid';
import { parseDatabaseUrl } from '../../src/config/database-url.js';
import { CODE_READ_SQL } from '../../src/modules/claims/claim-batch.js';
import { benchGraphQL, dropBenchDatabase, startBenchServer, type BenchServer } from './server.js';

export interface LoadResult {
  /** Successful answers per second over the measured time. */
  rate: number;
  ok: number;
  errors: number;
  /** Answers that were `reused` (none are expected: every request is another user). */
  reused: number;
  p50: number;
  p99: number;
  max: number;
  /** Answers that were an expected refusal (see `refusals` of httpLoad), by error code. */
  refused: Record<string, number>;
  timeouts: number;
  connectionErrors: number;
  seconds: number;
  firstError?: string;
  /** The server process's CPU time per answered request, in microseconds. */
  serverCpuMicros?: number;
  /** The other process's (`alsoPid`, e.g. a job worker) CPU time per answered request, in microseconds. */
  alsoCpuMicros?: number;
  /** This process's CPU time (the load generator) per answered request, in microseconds. */
  clientCpuMicros?: number;
  /** CPU time of the database server per request (where its pid was given), in µs. */
  databaseCpuMicros?: number;
  /** How busy the whole machine was (all processes), in % of its CPUs. */
  machineBusy?: number;
}

const CLOCK_TICKS_PER_SECOND = 100;

/** CPU time (user + system) of a process so far, in microseconds. */
export function processCpuMicros(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1_000_000) / CLOCK_TICKS_PER_SECOND;
}

/** The pid of a MariaDB server from its pid file, where this process can read it (null otherwise). */
export async function databaseServerPid(host: string, port: number): Promise<number | null> {
  const connection = await mysql.createConnection({ host, port, user: 'root' });
  try {
    const [[row]] = await connection.query<any[]>('SELECT @@pid_file AS file');
    const pid = Number(readFileSync(String(row.file), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  } finally {
    await connection.end();
  }
}

/** Busy and total jiffies of the whole machine. */
function machineJiffies(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = fields[3] + fields[4];
  const total = fields.reduce((sum, value) => sum + value, 0);
  return { busy: total - idle, total };
}

/**
 * Runs `work` against a fresh bench server (own database) with a seeding pool and a CLIENT key,
 * then stops the server and drops its database.
 */
export async function withClaimServer<T>(work: (bench: { server: BenchServer; pool: mysql.Pool; key: string }) => Promise<T>): Promise<T> {
  const server = await startBenchServer();
  const pool = benchPool(server.databaseUrl);
  try {
    const key = (await benchGraphQL(server.url, 'mutation { createApiKey(name: "widget", role: CLIENT) { secret } }')).createApiKey.secret as string;
    return await work({ server, pool, key });
  } finally {
    await pool.end();
    await server.stop();
    await dropBenchDatabase(server.databaseUrl);
  }
}

/** A connection pool to the bench server's database, for seeding and checks. */
export function benchPool(databaseUrl: string, connectionLimit = 4): mysql.Pool {
  const location = parseDatabaseUrl(databaseUrl);
  return mysql.createPool({ ...location, connectionLimit, timezone: 'Z', supportBigNumbers: true, bigNumberStrings: true });
}

/**
 * A UNIQUE list of `total` codes of which the first `used` count as handed out (claim_cursor),
 * written the way an upload does: rows first, then one short transaction makes them live.
 * Codes come from MariaDB's sequence engine, so millions are written in seconds.
 */
export async function seedUniqueList(pool: mysql.Pool, name: string, total: number, used = 0): Promise<string> {
  const [result] = await pool.query<mysql.ResultSetHeader>(`INSERT INTO coupon_lists (name, kind, alert_emails) VALUES (?, 'UNIQUE', '[]')`, [name]);
  const listId = String(result.insertId);
  const chunk = 500_000;
  for (let start = 1; start <= total; start += chunk) {
    const end = Math.min(total, start + chunk - 1);
    await pool.query(
      `INSERT INTO coupon_codes (list_id, seq, code) SELECT ?, seq, CONCAT(?, seq) FROM seq_1_to_${total} WHERE seq BETWEEN ? AND ?`,
      [listId, `L${listId}-`, start, end],
    );
  }
  await pool.query('UPDATE coupon_lists SET visible_seq = ?, total_codes = ?, assigned_codes = ?, claim_cursor = ? WHERE id = ?', [total, total, used, used, listId]);
  return listId;
}

export async function seedCampaign(pool: mysql.Pool, name: string, listIds: string[]): Promise<string> {
  const [result] = await pool.query<mysql.ResultSetHeader>(`INSERT INTO campaigns (name, kind) VALUES (?, 'WIDGET')`, [name]);
  const campaignId = String(result.insertId);
  await pool.query('INSERT INTO campaign_lists (campaign_id, list_id, position) VALUES ?', [listIds.map((listId, position) => [campaignId, listId, position])]);
  return campaignId;
}

/** `count` other lists, each with `codesEach` codes and a campaign of its own. */
export async function seedOtherLists(pool: mysql.Pool, count: number, codesEach: number): Promise<string[]> {
  const campaignIds: string[] = [];
  for (let i = 0; i < count; i++) {
    const [result] = await pool.query<mysql.ResultSetHeader>(
      `INSERT INTO coupon_lists (name, kind, alert_emails, total_codes, visible_seq) VALUES (?, 'UNIQUE', '[]', ?, ?)`,
      [`other ${i}`, codesEach, codesEach],
    );
    const listId = String(result.insertId);
    await pool.query(`INSERT INTO coupon_codes (list_id, seq, code) SELECT ?, seq, CONCAT(?, seq) FROM seq_1_to_${codesEach}`, [listId, `O${listId}-`]);
    campaignIds.push(await seedCampaign(pool, `other ${i}`, [listId]));
  }
  return campaignIds;
}

const CLAIM_MUTATION = 'mutation($input: ClaimCouponInput!) { claimCoupon(input: $input) { id code listId campaignId userId externalId assignedAt expiresAt reused } }';

/**
 * `connections` HTTP clients POSTing for `seconds`. `body(n)` makes the n-th request's body
 * (each request can be another user). A response is an error unless it is 200 without `errors`.
 */
export async function httpLoad(options: {
  url: string;
  pid?: number;
  /** Another process whose CPU time per request is reported too (a job worker). */
  alsoPid?: number;
  /** The database server's process, whose CPU time per request is reported too. */
  databasePid?: number | null;
  key: string;
  connections: number;
  seconds: number;
  body: (n: number) => string;
  /** Error codes that count as expected refusals rather than errors (e.g. CAMPAIGN_FINISHED). */
  refusals?: readonly string[];
  /** autocannon's per-request timeout in seconds (10 by default). */
  timeoutSeconds?: number;
  /** Requests per second over all connections (default: as fast as answers come). */
  overallRate?: number;
}): Promise<LoadResult> {
  const cpuBefore = options.pid ? processCpuMicros(options.pid) : 0;
  const alsoBefore = options.alsoPid ? processCpuMicros(options.alsoPid) : 0;
  const databaseBefore = options.databasePid ? processCpuMicros(options.databasePid) : 0;
  const clientBefore = process.cpuUsage();
  const machineBefore = machineJiffies();
  let sent = 0;
  let ok = 0;
  let errors = 0;
  let reused = 0;
  const refused: Record<string, number> = {};
  let firstError: string | undefined;
  const started = performance.now();
  const result = await autocannon({
    url: `${options.url}/graphql`,
    connections: options.connections,
    duration: options.seconds,
    timeout: options.timeoutSeconds ?? 10,
    ...(options.overallRate ? { overallRate: options.overallRate } : {}),
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${options.key}` },
    requests: [
      {
        setupRequest: (request) => ({ ...request, body: options.body(sent++) }),
        onResponse: (status, body) => {
          const code = status === 200 && options.refusals ? /"code":"([A-Z_]+)"/.exec(body)?.[1] : undefined;
          if (code && options.refusals!.includes(code)) {
            refused[code] = (refused[code] ?? 0) + 1;
          } else if (status !== 200 || body.includes('"errors"')) {
            errors++;
            firstError ??= `${status} ${body.slice(0, 300)}`;
          } else {
            ok++;
            if (body.includes('"reused":true')) reused++;
          }
        },
      },
    ],
  });
  const seconds = (performance.now() - started) / 1000;
  const client = process.cpuUsage(clientBefore);
  // autocannon's errors include its timeouts.
  errors += result.errors;
  const machineAfter = machineJiffies();
  // CPU per request counts every answer: successes, refusals and errors.
  const answered = ok + errors + Object.values(refused).reduce((sum, count) => sum + count, 0);
  return {
    rate: ok / seconds,
    ok,
    errors,
    reused,
    p50: result.latency.p50,
    p99: result.latency.p99,
    max: result.latency.max,
    refused,
    timeouts: result.timeouts,
    connectionErrors: result.errors - result.timeouts,
    seconds,
    firstError,
    serverCpuMicros: options.pid ? (processCpuMicros(options.pid) - cpuBefore) / Math.max(1, answered) : undefined,
    alsoCpuMicros: options.alsoPid ? (processCpuMicros(options.alsoPid) - alsoBefore) / Math.max(1, answered) : undefined,
    databaseCpuMicros: options.databasePid ? (processCpuMicros(options.databasePid) - databaseBefore) / Math.max(1, answered) : undefined,
    clientCpuMicros: (client.user + client.system) / Math.max(1, answered),
    machineBusy: (100 * (machineAfter.busy - machineBefore.busy)) / Math.max(1, machineAfter.total - machineBefore.total),
  };
}

export function claimBody(campaignId: string, userPrefix: string) {
  return (n: number) => JSON.stringify({ query: CLAIM_MUTATION, variables: { input: { campaignId, userId: `${userPrefix}-${n}`, externalId: `ext-${n}` } } });
}

export const TRIVIAL_BODY = () => JSON.stringify({ query: '{ __typename }' });

/**
 * The database floor: the same claim done straight over mysql2, one claim per transaction, as
 * tight as one claim per transaction gets: two round trips. The first starts the transaction,
 * locks the campaign and list rows, reads the user's window and the next code (range in session
 * variables); the second writes the assignment, the window and the counters and commits.
 */
export async function rawClaimFloor(databaseUrl: string, campaignId: string, listId: string, connections: number, seconds: number, windowSeconds = 86400): Promise<LoadResult> {
  const pool = mysql.createPool({
    ...parseDatabaseUrl(databaseUrl),
    connectionLimit: connections,
    timezone: 'Z',
    supportBigNumbers: true,
    bigNumberStrings: true,
    multipleStatements: true,
  });
  const latencies: number[] = [];
  let ok = 0;
  let errors = 0;
  let firstError: string | undefined;
  let n = 0;
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      const connection = await pool.getConnection();
      await connection.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED');
      try {
        while (performance.now() < deadline) {
          const userId = `raw-${n++}`;
          const begin = performance.now();
          try {
            const [results] = await connection.query<any[]>(
              `START TRANSACTION;
               SELECT status INTO @raw_status FROM campaigns WHERE id = ? FOR UPDATE;
               SELECT claim_cursor, visible_seq INTO @raw_after, @raw_upto FROM coupon_lists WHERE id = ? FOR UPDATE;
               SELECT id FROM coupon_assignments FORCE INDEX (idx_coupon_assignments_user)
                WHERE user_id = ? AND assigned_at > DATE_SUB(UTC_TIMESTAMP(3), INTERVAL ? SECOND) AND campaign_id = ?;
               SELECT seq, code, UTC_TIMESTAMP(3) AS now FROM coupon_codes FORCE INDEX (PRIMARY) WHERE list_id = ? AND seq > @raw_after AND seq <= @raw_upto ORDER BY seq LIMIT 1`,
              [campaignId, listId, userId, windowSeconds, campaignId, listId],
            );
            const [window, codes] = [results[3] as any[], results[4] as any[]];
            if (window.length > 0 || codes.length === 0) {
              await connection.query('ROLLBACK');
              throw new Error(window.length > 0 ? 'unexpected open window' : 'list exhausted');
            }
            const { seq, code } = codes[0];
            const now: Date = codes[0].now;
            const id = uuidv7();
            await connection.query(
              `INSERT INTO coupon_assignments (id, list_id, campaign_id, code_seq, code, user_id, external_id, assigned_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?);
               UPDATE coupon_lists SET claim_cursor = ?, assigned_codes = assigned_codes + 1 WHERE id = ?;
               COMMIT`,
              [id, listId, campaignId, seq, code, userId, `ext-${n}`, now, seq, listId],
            );
            ok++;
            latencies.push(performance.now() - begin);
          } catch (error) {
            errors++;
            firstError ??= String(error);
            await connection.query('ROLLBACK').catch(() => undefined);
          }
        }
      } finally {
        connection.release();
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  await pool.end();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return { rate: ok / elapsed, ok, errors, reused: 0, p50: at(0.5), p99: at(0.99), max: at(1), refused: {}, timeouts: 0, connectionErrors: 0, seconds: elapsed, firstError };
}

/**
 * Checks straight in the tables, for one list whose first `used` codes were marked used when it
 * was seeded: no code twice, counters exact, codes handed out in seq order (one gap-free run
 * right after the seeded ones, ending at the cursor).
 */
export async function checkList(pool: mysql.Pool, listId: string, used = 0): Promise<{ assigned: number; duplicates: number; inconsistencies: number }> {
  const [rows] = await pool.query<any[]>(
    `SELECT COUNT(*) AS assigned, COUNT(*) - COUNT(DISTINCT code) AS duplicateCodes, COUNT(*) - COUNT(DISTINCT code_seq) AS duplicateSeqs,
            (SELECT assigned_codes FROM coupon_lists WHERE id = ?) AS counter,
            (SELECT claim_cursor FROM coupon_lists WHERE id = ?) AS claimCursor,
            COALESCE(MIN(code_seq), 0) AS minSeq, COALESCE(MAX(code_seq), 0) AS maxSeq
       FROM coupon_assignments WHERE list_id = ?`,
    [listId, listId, listId],
  );
  const row = rows[0];
  const assigned = Number(row.assigned);
  const problems = [
    Number(row.counter) - used - assigned,
    Number(row.claimCursor) - used - assigned,
    assigned === 0 ? 0 : Number(row.minSeq) - (used + 1),
    assigned === 0 ? 0 : Number(row.maxSeq) - (used + assigned),
  ];
  return {
    assigned,
    duplicates: Number(row.duplicateCodes) + Number(row.duplicateSeqs),
    inconsistencies: problems.filter((difference) => difference !== 0).length,
  };
}

/** How MariaDB runs the claim path's code read on a list whose first `used` codes are handed out. */
export async function explainCodeRead(pool: mysql.Pool, listId: string, used: number, total: number): Promise<{ type: string; key: string; rows: number }> {
  const connection = await pool.getConnection();
  try {
    const [plan] = await connection.query<any[]>(`EXPLAIN ${CODE_READ_SQL}`, [listId, used, total, 64]);
    return { type: String(plan[0].type), key: String(plan[0].key), rows: Number(plan[0].rows) };
  } finally {
    connection.release();
  }
}

/**
 * After bulk seeding, InnoDB keeps flushing dirty pages for a while; waits (at most
 * `maxSeconds`) until the buffer pool is nearly clean, so that the next measurement is not one
 * of the background flush.
 */
export async function settleDatabase(pool: mysql.Pool, maxSeconds = 30): Promise<{ dirtyPages: number }> {
  const deadline = Date.now() + maxSeconds * 1000;
  for (;;) {
    const [rows] = await pool.query<any[]>(
      "SHOW GLOBAL STATUS WHERE Variable_name IN ('Innodb_buffer_pool_pages_dirty', 'Innodb_buffer_pool_pages_total')",
    );
    const value = (name: string) => Number(rows.find((row) => row.Variable_name === name)?.Value ?? 0);
    const dirtyPages = value('Innodb_buffer_pool_pages_dirty');
    // Nearly clean (1 % of the pool, or 16 MiB): a seed of millions of rows otherwise goes on being
    // flushed through the measurement, and the page cleaner's work shows up as the service's tail.
    if (dirtyPages < Math.max(1000, value('Innodb_buffer_pool_pages_total') / 100) || Date.now() >= deadline) return { dirtyPages };
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}
