import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BinaryProvider, type RedisBinaries } from '../../src/infra/local-services/binaries';
import { consoleServicesLogger } from '../../src/infra/local-services/from-environment';
import { stateDirOf } from '../../src/infra/local-services/servers';
import { probeRedis } from '../../src/infra/local-services/probe';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { claimableCodes, listFigures, readUpload, upload, waitForUpload } from './upload-helpers';
import { createUniqueList, sleep, unusedPort } from '../helpers/fixtures';

const ROOT = join(__dirname, '..', '..');

/**
 * A file of `unique` distinct codes with duplicates and invalid lines mixed in, and the counts
 * an exact import must end with.
 */
function faultFile(unique: number) {
  const lines: string[] = [];
  let duplicates = 0;
  let invalid = 0;
  const code = (i: number) => `K${i.toString(36).toUpperCase().padStart(6, '0')}`;
  for (let i = 0; i < unique; i++) {
    lines.push(code(i));
    if (i % 2000 === 1999) {
      lines.push(code(i - 1000));
      duplicates++;
    }
    if (i % 10000 === 5000) {
      lines.push('no good');
      invalid++;
    }
  }
  return { content: `${lines.join('\n')}\n`, first: lines[0], last: lines[lines.length - 1], unique, duplicates, invalid, lines: lines.length };
}

async function expectExactImport(t: TestApp, listId: string, id: string, expected: ReturnType<typeof faultFile>, timeoutMs: number) {
  const done = await waitForUpload(t, id, timeoutMs);
  expect(done).toMatchObject({
    status: 'COMPLETED',
    linesRead: expected.lines,
    codesAdded: expected.unique,
    duplicatesSkipped: expected.duplicates,
    invalidLines: expected.invalid,
  });
  const [rows] = await t.app.dataSource.query(
    `SELECT COUNT(*) AS n, COUNT(DISTINCT code) AS codes, MIN(seq) AS low, MAX(seq) AS high FROM coupon_codes WHERE list_id = ?`,
    [listId],
  );
  expect(Number(rows.n)).toBe(expected.unique);
  expect(Number(rows.codes)).toBe(expected.unique);
  expect(await listFigures(t, listId)).toMatchObject({ totalCodes: expected.unique, availableCodes: expected.unique });
  const [list] = await t.app.dataSource.query(`SELECT claim_cursor, visible_seq FROM coupon_lists WHERE id = ?`, [listId]);
  expect(BigInt(rows.low)).toBeGreaterThan(BigInt(list.claim_cursor));
  expect(BigInt(rows.high)).toBeLessThanOrEqual(BigInt(list.visible_seq));
  const claimable = await claimableCodes(t, listId);
  expect(claimable).toHaveLength(expected.unique);
  expect(claimable[0]).toBe(expected.first);
  const [{ chunks }] = await t.app.dataSource.query(`SELECT COUNT(*) AS chunks FROM code_upload_chunks`);
  expect(Number(chunks)).toBe(0);
}

/** Waits until the import has committed at least `lines` lines (a read that fails, as one may while a cluster switches hosts, is read again). */
async function importedAtLeast(t: TestApp, id: string, lines: number): Promise<any> {
  for (;;) {
    const current = await readUpload(t, id).catch(() => undefined);
    if (current === undefined) {
      await sleep(20);
      continue;
    }
    if (current.status !== 'QUEUED' && current.status !== 'PROCESSING') throw new Error(`upload ended too early: ${JSON.stringify(current)}`);
    if (current.linesRead >= lines) return current;
    await sleep(20);
  }
}

describe('an import whose worker is killed', () => {
  let t: TestApp;
  const workers: ChildProcess[] = [];

  beforeAll(async () => {
    // The worker runs as `npm start` runs it: compiled, in its own OS process.
    const build = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, encoding: 'utf8' });
    if (!existsSync(join(ROOT, 'dist', 'src', 'main.js'))) throw new Error(`build failed: ${build.stdout}${build.stderr}`);
    t = await startTestApp({ env: { ROLE: 'api', UPLOAD_RECOVERY_SECONDS: '3' } });
  }, 120_000);

  afterAll(async () => {
    for (const worker of workers) if (worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
    await t.destroy();
  });

  function startWorker(): ChildProcess {
    const worker = spawn(process.execPath, [join(ROOT, 'dist', 'src', 'main.js')], {
      cwd: ROOT,
      env: {
        ...process.env,
        NODE_ENV: 'test',
        ROLE: 'worker',
        DATABASE_URL: t.databaseUrl,
        QUEUE_PREFIX: t.queuePrefix,
        UPLOAD_RECOVERY_SECONDS: '3',
        LOG_LEVEL: 'error',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    workers.push(worker);
    return worker;
  }

  it('finishes by itself after a restart, with exact counts: no code lost, none twice', async () => {
    const expected = faultFile(1_000_000);
    const listId = await createUniqueList(t, 'Killed worker');
    const first = startWorker();
    const response = await upload(t, listId, expected.content);
    expect(response.errors).toBeUndefined();
    const id = response.data.uploadCouponCodes.id;

    await importedAtLeast(t, id, 250_000);
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));

    // Nothing of the half-imported file is visible, and nothing moves while no worker runs.
    const stopped = await readUpload(t, id);
    expect(stopped.status).toBe('PROCESSING');
    expect(stopped.linesRead).toBeLessThan(expected.lines);
    expect((await listFigures(t, listId)).totalCodes).toBe(0);
    expect(await claimableCodes(t, listId)).toEqual([]);
    await sleep(1500);
    expect((await readUpload(t, id)).linesRead).toBe(stopped.linesRead);

    startWorker();
    await expectExactImport(t, listId, id, expected, 150_000);
  }, 240_000);
});

describe('an import during a Redis outage', () => {
  let port: number;
  let redis: ChildProcess | null = null;
  let t: TestApp;

  // A Redis of this test's own: the shared one must keep serving every other test. Its binary is
  // the one the local services use (installed, or unpacked from Debian's packages).
  let redisBinary: RedisBinaries;
  async function startRedis(): Promise<void> {
    redis = spawn(redisBinary.server, ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no'], {
      env: redisBinary.env,
      stdio: 'ignore',
    });
    for (let i = 0; i < 300; i++) {
      if ((await probeRedis({ host: '127.0.0.1', port })).state === 'answers') return;
      await sleep(50);
    }
    throw new Error(`redis-server did not answer on port ${port}`);
  }

  const redisRuns = () => redis !== null && redis.exitCode === null && redis.signalCode === null;

  async function stopRedis(): Promise<void> {
    const running = redis;
    redis = null;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGKILL');
    await exited;
  }

  beforeAll(async () => {
    redisBinary = await new BinaryProvider(stateDirOf(ROOT), consoleServicesLogger).redis();
    port = await unusedPort();
    await startRedis();
    // Connection errors while Redis is down are expected here: only errors are logged.
    t = await startTestApp({ env: { REDIS_URL: `redis://127.0.0.1:${port}`, UPLOAD_RECOVERY_SECONDS: '3', LOG_LEVEL: 'error' } });
  }, 180_000);

  afterAll(async () => {
    // The app shuts down cleanly only with its Redis there.
    if (!redisRuns()) await startRedis();
    await t.destroy();
    await stopRedis();
  });

  it('recovers when Redis comes back empty: exact counts, never half-loaded', async () => {
    const expected = faultFile(600_000);
    const listId = await createUniqueList(t, 'Redis outage');
    const response = await upload(t, listId, expected.content);
    expect(response.errors).toBeUndefined();
    const id = response.data.uploadCouponCodes.id;
    await importedAtLeast(t, id, 100_000);

    // Killed, so it comes back without the queue: the job and its lock are gone.
    await stopRedis();
    const during = await readUpload(t, id);
    expect(during.status === 'COMPLETED' || (await listFigures(t, listId)).totalCodes === 0).toBe(true);
    await sleep(3000);
    await startRedis();
    await expectExactImport(t, listId, id, expected, 120_000);
  }, 240_000);
});
