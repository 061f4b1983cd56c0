import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The folder with package.json above `from` (works from src/, test/, bench/ and dist/). */
export function findProjectRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`No package.json above ${from}`);
  }
}
