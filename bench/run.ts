import 'reflect-metadata';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ensureLocalServicesFor } from '../src/infra/local-services/from-environment.js';
import { PROJECT_ROOT } from './lib/server.js';

/**
 * `npm run bench [name ...]`: runs every scenario in bench/scenarios (or those named), each
 * against a real server process started as `npm start` starts it. Prints figures and goals.
 */
interface Scenario {
  name: string;
  run(): Promise<{ passed: boolean; lines: string[] }>;
}

async function main(): Promise<void> {
  await ensureLocalServicesFor(process.env, PROJECT_ROOT);
  const wanted = process.argv.slice(2);
  const directory = join(__dirname, 'scenarios');
  const files = readdirSync(directory).filter((file) => file.endsWith('.js')).sort();
  const summary: string[] = [];
  let allPassed = true;
  for (const file of files) {
    const scenario = (require(join(directory, file)) as { scenario: Scenario }).scenario;
    if (!scenario || (wanted.length > 0 && !wanted.includes(scenario.name))) continue;
    console.log(`\n=== ${scenario.name}`);
    const result = await scenario.run();
    allPassed &&= result.passed;
    summary.push(`${result.passed ? 'PASS' : 'MISS'} ${scenario.name}`, ...result.lines.map((line) => `     ${line}`));
  }
  console.log(`\n=== summary\n${summary.join('\n')}`);
  process.exit(allPassed ? 0 : 1);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
