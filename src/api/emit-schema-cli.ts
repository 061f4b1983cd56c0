import 'reflect-metadata';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findProjectRoot } from '../infra/project-root.js';
import { buildAppSchema, printAppSchema } from './schema.js';

/** `npm run schema:emit`: writes schema.graphql at the project root. */
async function main(): Promise<void> {
  const noPubSub = { publish: () => undefined, subscribe: () => (async function* () {})() };
  const schema = await buildAppSchema(noPubSub);
  const target = join(findProjectRoot(__dirname), 'schema.graphql');
  writeFileSync(target, printAppSchema(schema));
  console.log(`wrote ${target}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
