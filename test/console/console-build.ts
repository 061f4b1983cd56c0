import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const SOURCES = [join(ROOT, 'console'), join(ROOT, 'package-lock.json')];
export const CONSOLE_INDEX = join(ROOT, 'dist', 'console', 'index.html');
const LOCK = join(ROOT, 'dist', '.console-build.lock');

function newestChange(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((entry) => newestChange(join(path, entry))));
}

const isStale = () => !existsSync(CONSOLE_INDEX) || statSync(CONSOLE_INDEX).mtimeMs < Math.max(...SOURCES.map(newestChange));

/**
 * The browser tests run against the built console: build it (about a second) when
 * dist/console is missing or older than its sources. A lock directory keeps two test files
 * from building at once.
 */
export async function ensureConsoleBuilt(): Promise<void> {
  if (!isStale()) return;
  mkdirSync(join(ROOT, 'dist'), { recursive: true });
  for (const deadline = Date.now() + 120_000; ; ) {
    try {
      mkdirSync(LOCK);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`${LOCK} is held for 2 minutes: remove it if no build is running`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  try {
    if (isStale()) {
      execFileSync(process.execPath, [join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', join(ROOT, 'console', 'vite.config.mjs')], {
        cwd: ROOT,
        stdio: ['ignore', 'ignore', 'inherit'],
      });
    }
  } finally {
    rmdirSync(LOCK);
  }
}
