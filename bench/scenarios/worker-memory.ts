import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { BENCH_ADMIN_KEY, benchDatabaseUrl, dropBenchDatabase, PROJECT_ROOT, report, START_ARGS, workerStarted } from '../lib/server.js';
import { DEFAULT_REDIS_URL } from '../../src/config/config.js';

const IDLE_SECONDS = Number(process.env.BENCH_WORKER_IDLE_SECONDS ?? 60);
const GOAL_RSS_MIB = 100;

function memoryMiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : 0;
}

/**
 * An idle ROLE=worker process, started as `npm start` starts it (START_ARGS): its
 * resident memory right after its job workers started, every second while it idles for
 * IDLE_SECONDS, and at the end (V8 gives memory back once a process has been idle a while).
 * The goal is on the idle figure; the start-up peak is printed beside it.
 */
export const scenario = {
  name: 'worker-memory',
  async run(): Promise<{ passed: boolean; lines: string[] }> {
    const databaseUrl = benchDatabaseUrl('worker');
    const child = spawn(process.execPath, START_ARGS, {
      cwd: PROJECT_ROOT,
      env: {
        ...process.env,
        NODE_ENV: 'production',
        ROLE: 'worker',
        DATABASE_URL: databaseUrl,
        REDIS_URL: process.env.REDIS_URL || DEFAULT_REDIS_URL,
        ADMIN_API_KEY: BENCH_ADMIN_KEY,
        QUEUE_PREFIX: `bench-worker-${process.pid}`,
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines: string[] = [];
    try {
      await workerStarted(child);
      const pid = child.pid!;
      const atStart = memoryMiB(pid, 'VmRSS');
      const samples: number[] = [];
      for (let second = 0; second < IDLE_SECONDS; second++) {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        samples.push(memoryMiB(pid, 'VmRSS'));
      }
      const idle = samples[samples.length - 1] ?? atStart;
      const peak = memoryMiB(pid, 'VmHWM');
      const ok = idle <= GOAL_RSS_MIB;
      lines.push(
        report('idle ROLE=worker', {
          rss_after_start_mib: atStart,
          rss_idle_mib: idle,
          rss_min_mib: Math.min(...samples, atStart),
          peak_mib: peak,
          idle_seconds: IDLE_SECONDS,
          goal: `idle RSS <= ${GOAL_RSS_MIB} MiB`,
          ratio: idle / GOAL_RSS_MIB,
          ok,
        }),
      );
      return { passed: ok, lines };
    } finally {
      await new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
      await dropBenchDatabase(databaseUrl);
    }
  },
};
