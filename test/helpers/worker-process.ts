import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

/** Compiles the service as `npm start` runs it (dist/), so a worker can run in its own OS process. */
export function buildService(): void {
  const build = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, encoding: 'utf8' });
  if (build.status !== 0 || !existsSync(join(ROOT, 'dist', 'src', 'main.js'))) throw new Error(`build failed: ${build.stdout}${build.stderr}`);
}

/** Starts the compiled service with ROLE=worker on the given deployment (database and queue prefix). */
export function startWorkerProcess(deployment: { databaseUrl: string; queuePrefix: string }, env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [join(ROOT, 'dist', 'src', 'main.js')], {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'test', ROLE: 'worker', DATABASE_URL: deployment.databaseUrl, QUEUE_PREFIX: deployment.queuePrefix, LOG_LEVEL: 'error', ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}

/** SIGKILL, and resolves once the process is gone. */
export async function killProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}
