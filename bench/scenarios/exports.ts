import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { stringify } from 'csv-stringify';
import mysql from 'mysql2';
import mysqlPromise from 'mysql2/promise';
import { parseDatabaseUrl } from '../../src/config/database-url.js';
import { BENCH_ADMIN_KEY, PROJECT_ROOT, START_ARGS, benchDatabaseUrl, benchGraphQL, dropBenchDatabase, report, startBenchServer, type BenchServer, workerStarted } from '../lib/server.js';

const SMALL_ROWS = 1_000_000;
const LARGE_ROWS = 5_000_000;
const TOTAL_ROWS = 10_000_000;
const HEAVY_USER_ROWS = 150;
const MEMORY_LIMIT_MIB = 150;
const FLOOR_RATIO = 0.7;
const P99_LIMIT_MS = 20;
const LOOKUPS = Number(process.env.BENCH_HISTORY_LOOKUPS ?? 1000);

const EXPORT_SQL = `SELECT external_id, user_id, code, assigned_at FROM coupon_assignments FORCE INDEX (idx_coupon_assignments_list)
  WHERE list_id = ? ORDER BY assigned_at, id`;

interface WorkerProcess {
  pid: number;
  peakRssMiB(): number;
  stop(): Promise<void>;
}

function statusMiB(pid: number, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : 0;
}

/** `dist/src/main.js` as `npm start` runs it, with ROLE=worker (no HTTP port): ready once it says its workers started. */
async function startWorkerProcess(env: Record<string, string>): Promise<WorkerProcess> {
  const child: ChildProcess = spawn(process.execPath, START_ARGS, {
    cwd: PROJECT_ROOT,
    env: { ...process.env, NODE_ENV: 'production', ADMIN_API_KEY: BENCH_ADMIN_KEY, LOG_LEVEL: 'info', ...env, ROLE: 'worker' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await workerStarted(child);
  child.stdout!.resume();
  const pid = child.pid!;
  return {
    pid,
    peakRssMiB: () => statusMiB(pid, 'VmHWM'),
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

const DIGITS = '(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)';

/** A derived table `seq(n)` holding 1..count, generated in MySQL 8 and MariaDB alike. */
function sequenceTable(count: number): string {
  const places = Math.max(1, Math.ceil(Math.log10(count + 1)));
  const digits = Array.from({ length: places }, (_, i) => `${DIGITS} d${i}`).join(' CROSS JOIN ');
  const value = Array.from({ length: places }, (_, i) => `d${i}.d * ${10 ** i}`).join(' + ');
  return `(SELECT ${value} + 1 AS n FROM ${digits} HAVING n <= ${count}) seq`;
}

/**
 * Assignments written straight with INSERT … SELECT over a generated sequence, in slices.
 * Ids look like UUIDv7 and grow with n; users get three assignments each; every tenth external
 * id needs CSV quoting.
 */
async function seedAssignments(pool: mysqlPromise.Pool, listId: string, campaignId: string, firstN: number, rows: number): Promise<void> {
  const slice = 500_000;
  for (let start = 0; start < rows; start += slice) {
    const count = Math.min(slice, rows - start);
    const offset = firstN + start;
    await pool.query(
      `INSERT INTO coupon_assignments (id, list_id, campaign_id, code_seq, code, user_id, external_id, assigned_at)
       SELECT CONCAT('01900000-0000-7000-8', SUBSTR(h, 1, 3), '-', SUBSTR(h, 4, 12)), ?, ?, NULL,
              CONCAT('CODE-', n), CONCAT('user-', LPAD(n DIV 3, 9, '0')),
              IF(n MOD 10 = 0, CONCAT('ext,"', n, '"'), CONCAT('ext-', n)),
              TIMESTAMPADD(MICROSECOND, n * 10000, '2030-01-01 00:00:00')
       FROM (SELECT n + ? AS n, LPAD(HEX(n + ?), 15, '0') AS h FROM ${sequenceTable(count)}) s`,
      [listId, campaignId, offset, offset],
    );
  }
}

/** The floor: the same rows straight from mysql2 into csv-stringify into a file. */
async function floorExport(databaseUrl: string, listId: string, file: string): Promise<{ ms: number; rows: number }> {
  const connection = mysql.createConnection({ ...parseDatabaseUrl(databaseUrl), timezone: 'Z' });
  const started = performance.now();
  let rows = 0;
  const csv = stringify({
    header: true,
    columns: ['external_id', 'user_id', 'code', 'assigned_at'],
    record_delimiter: '\r\n',
    cast: { date: (value: Date) => value.toISOString() },
  });
  csv.on('data', () => undefined);
  const counted = connection.query({ sql: EXPORT_SQL, values: [listId] }).stream({ highWaterMark: 1000 });
  counted.on('data', () => rows++);
  await pipeline(counted, csv, createWriteStream(file));
  const ms = performance.now() - started;
  connection.end();
  return { ms, rows };
}

async function runExport(url: string, listId: string): Promise<{ ms: number; rowCount: number; id: string }> {
  const started = performance.now();
  const { exportCouponUsage } = await benchGraphQL(url, 'mutation($listId: ID!) { exportCouponUsage(listId: $listId) { id } }', { listId });
  for (;;) {
    const { couponUsageExport: row } = await benchGraphQL(url, 'query($id: ID!) { couponUsageExport(id: $id) { status rowCount failureReason } }', { id: exportCouponUsage.id });
    if (row.status === 'COMPLETED') return { ms: performance.now() - started, rowCount: row.rowCount, id: exportCouponUsage.id };
    if (row.status === 'FAILED') throw new Error(`export failed: ${row.failureReason}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function lookupLatencies(url: string, users: string[]): Promise<{ p50: number; p99: number; max: number }> {
  const query = `query($userId: String!) { userCoupons(userId: $userId) { id code listId assignedAt expiresAt history { kind at } } }`;
  const times: number[] = [];
  for (let i = 0; i < users.length; i++) {
    const started = performance.now();
    const data = await benchGraphQL(url, query, { userId: users[i] });
    times.push(performance.now() - started);
    if (data.userCoupons.length === 0) throw new Error(`no coupons for ${users[i]}`);
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99), max: times[times.length - 1] };
}

/**
 * Usage exports and coupon history against real server processes: an API process and a
 * separate worker process (ROLE=worker, its peak memory measured), one database holding
 * 10,000,000 assignments: a list of 1,000,000, one of 5,000,000 and one of 4,000,000.
 */
export const scenario = {
  name: 'exports',
  async run(): Promise<{ passed: boolean; lines: string[] }> {
    const exportDir = mkdtempSync(join(tmpdir(), 'bench-exports-'));
    const databaseUrl = benchDatabaseUrl('exports');
    const started: { api?: BenchServer; worker?: WorkerProcess } = {};
    try {
      started.api = await startBenchServer({ databaseUrl, env: { ROLE: 'api', EXPORT_DIR: exportDir } });
      started.worker = await startWorkerProcess({ DATABASE_URL: databaseUrl, REDIS_URL: started.api.redisUrl, QUEUE_PREFIX: started.api.queuePrefix, EXPORT_DIR: exportDir });
    } catch (error) {
      await started.api?.stop();
      await dropBenchDatabase(databaseUrl);
      rmSync(exportDir, { recursive: true, force: true });
      throw error;
    }
    const { api, worker } = started as Required<typeof started>;
    const pool = mysqlPromise.createPool({ ...parseDatabaseUrl(databaseUrl), connectionLimit: 2 });
    const lines: string[] = [];
    let passed = true;
    try {
      const listIds: string[] = [];
      for (const [name, rows] of [['1M', SMALL_ROWS], ['5M', LARGE_ROWS], ['4M', TOTAL_ROWS - SMALL_ROWS - LARGE_ROWS]] as const) {
        const { createCouponList } = await benchGraphQL(
          api.url,
          'mutation($input: CreateCouponListInput!) { createCouponList(input: $input) { id } }',
          { input: { name: `bench exports ${name}`, kind: 'FIXED', fixedCode: `BENCH${name}`, fixedLimit: rows + 1000, expiresAt: '2099-01-01T00:00:00Z' } },
        );
        listIds.push(createCouponList.id);
      }
      const { createCampaign } = await benchGraphQL(api.url, 'mutation($input: CreateCampaignInput!) { createCampaign(input: $input) { id } }', {
        input: { name: 'bench exports', kind: 'WIDGET', listIds },
      });
      const seedStarted = performance.now();
      await seedAssignments(pool, listIds[0], createCampaign.id, 0, SMALL_ROWS);
      await seedAssignments(pool, listIds[1], createCampaign.id, SMALL_ROWS, LARGE_ROWS);
      await seedAssignments(pool, listIds[2], createCampaign.id, SMALL_ROWS + LARGE_ROWS, TOTAL_ROWS - SMALL_ROWS - LARGE_ROWS - HEAVY_USER_ROWS);
      // One heavy user, with assignments spread over the years.
      await pool.query(
        `INSERT INTO coupon_assignments (id, list_id, campaign_id, code, user_id, external_id, assigned_at)
         SELECT CONCAT('01900000-0000-7000-9', LPAD(HEX(n), 3, '0'), '-000000000000'), ?, ?, CONCAT('HEAVY-', n), 'heavy-user', NULL,
                TIMESTAMPADD(HOUR, n * 7, '2030-01-01 00:00:00')
         FROM ${sequenceTable(HEAVY_USER_ROWS)}`,
        [listIds[2], createCampaign.id],
      );
      await pool.query('ANALYZE TABLE coupon_assignments');
      const [[{ total }]] = (await pool.query('SELECT COUNT(*) AS total FROM coupon_assignments')) as any;
      lines.push(report('exports seed', { assignments: Number(total), seconds: (performance.now() - seedStarted) / 1000 }));

      // 1,000,000 rows: the floor, the export, the floor again (the faster floor counts).
      const floorBefore = await floorExport(databaseUrl, listIds[0], join(exportDir, 'floor-1.csv'));
      const small = await runExport(api.url, listIds[0]);
      const floorAfter = await floorExport(databaseUrl, listIds[0], join(exportDir, 'floor-2.csv'));
      const floorMs = Math.min(floorBefore.ms, floorAfter.ms);
      const smallPeak = worker.peakRssMiB();
      const ratio = floorMs / small.ms;
      const smallOk = small.rowCount === SMALL_ROWS && floorBefore.rows === SMALL_ROWS && ratio >= FLOOR_RATIO && smallPeak <= MEMORY_LIMIT_MIB;
      passed &&= smallOk;
      lines.push(
        report('export 1M rows', {
          rows: small.rowCount,
          export_s: small.ms / 1000,
          floor_s: floorMs / 1000,
          'floor/export': ratio,
          rows_per_s: Math.round(small.rowCount / (small.ms / 1000)),
          worker_peak_MiB: smallPeak,
          file_MiB: statSync(join(exportDir, 'floor-1.csv')).size / 1048576,
          goal: `ratio>=${FLOOR_RATIO} peak<=${MEMORY_LIMIT_MIB}`,
          ok: smallOk,
        }),
      );

      // 5,000,000 rows: the same memory.
      const large = await runExport(api.url, listIds[1]);
      const largePeak = worker.peakRssMiB();
      const largeOk = large.rowCount === LARGE_ROWS && largePeak <= MEMORY_LIMIT_MIB;
      passed &&= largeOk;
      lines.push(
        report('export 5M rows', {
          rows: large.rowCount,
          export_s: large.ms / 1000,
          rows_per_s: Math.round(large.rowCount / (large.ms / 1000)),
          worker_peak_MiB: largePeak,
          goal: `peak<=${MEMORY_LIMIT_MIB}`,
          ok: largeOk,
        }),
      );

      // Two exports at once (the worker runs two jobs at a time): still within the memory limit.
      const pair = await Promise.all([runExport(api.url, listIds[0]), runExport(api.url, listIds[0])]);
      const pairPeak = worker.peakRssMiB();
      const pairOk = pair.every((done) => done.rowCount === SMALL_ROWS) && pairPeak <= MEMORY_LIMIT_MIB;
      passed &&= pairOk;
      lines.push(
        report('two 1M exports at once', {
          export_s: Math.max(...pair.map((done) => done.ms)) / 1000,
          worker_peak_MiB: pairPeak,
          goal: `peak<=${MEMORY_LIMIT_MIB}`,
          ok: pairOk,
        }),
      );

      // userCoupons among 10,000,000 assignments: users with 3 assignments, and one with 150.
      const users = Array.from({ length: LOOKUPS }, (_, i) => `user-${String(Math.floor(((i * 7_919_993) % (TOTAL_ROWS - HEAVY_USER_ROWS)) / 3)).padStart(9, '0')}`);
      await lookupLatencies(api.url, users.slice(0, 50));
      const regular = await lookupLatencies(api.url, users);
      const heavy = await lookupLatencies(api.url, Array.from({ length: Math.max(100, LOOKUPS / 5) }, () => 'heavy-user'));
      const historyOk = regular.p99 < P99_LIMIT_MS && heavy.p99 < P99_LIMIT_MS;
      passed &&= historyOk;
      lines.push(report('userCoupons (3 assignments) among 10M', { lookups: users.length, p50_ms: regular.p50, p99_ms: regular.p99, max_ms: regular.max, goal: `p99<${P99_LIMIT_MS}`, ok: regular.p99 < P99_LIMIT_MS }));
      lines.push(report('userCoupons (page of 100 of 150) among 10M', { p50_ms: heavy.p50, p99_ms: heavy.p99, max_ms: heavy.max, goal: `p99<${P99_LIMIT_MS}`, ok: heavy.p99 < P99_LIMIT_MS }));
      return { passed, lines };
    } finally {
      await pool.end();
      await worker.stop();
      await api.stop();
      await dropBenchDatabase(databaseUrl);
      rmSync(exportDir, { recursive: true, force: true });
    }
  },
};
