import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { withDatabaseName } from '../../src/config/database-url';
import { dropDatabase, TEST_ADMIN_KEY } from '../helpers/test-app';

const ROOT = join(__dirname, '..', '..');

/** Starts the service with `role` in a process of its own and returns every file it loaded. */
function filesLoadedBy(role: 'worker' | 'api', databaseUrl: string): string[] {
  const script = `
    require('reflect-metadata');
    // As in main.ts: a late rejection while connections close at shutdown is logged, not fatal.
    process.on('unhandledRejection', () => undefined);
    const { loadConfig } = require(${JSON.stringify(join(ROOT, 'src/config/config.ts'))});
    const { startApp } = require(${JSON.stringify(join(ROOT, 'src/app.ts'))});
    startApp(loadConfig(process.env)).then(async (running) => {
      const loaded = Object.keys(require.cache);
      await running.stop();
      process.stdout.write(JSON.stringify(loaded));
      process.exit(0);
    }, (error) => { console.error(error); process.exit(1); });`;
  const result = spawnSync(process.execPath, ['-r', join(ROOT, 'test/helpers/ts-register.js'), '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
    env: {
      ...process.env,
      NODE_ENV: 'test',
      ROLE: role,
      PORT: '0',
      LOG_LEVEL: 'silent',
      ADMIN_API_KEY: TEST_ADMIN_KEY,
      DATABASE_URL: databaseUrl,
      QUEUE_PREFIX: `test-roles-${randomBytes(4).toString('hex')}`,
    },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.status !== 0) throw new Error(`ROLE=${role} process failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as string[];
}

/** What only an API process needs: the HTTP and GraphQL server stack, the schema, the resolvers. */
const API_ONLY = [/node_modules\/@apollo\/server\//, /node_modules\/express\//, /node_modules\/graphql-ws\//, /node_modules\/ws\//, /node_modules\/graphql-upload-minimal\//, /src\/api\/(schema|server)\.ts$/, /\.resolver\.ts$/, /\.api\.ts$/];

describe('what a process loads for its role', () => {
  const databaseUrl = withDatabaseName(process.env.DATABASE_URL!, `coupons_test_roles_${randomBytes(4).toString('hex')}`);
  afterAll(() => dropDatabase(databaseUrl));

  it('a ROLE=worker process loads no HTTP server, GraphQL schema or resolver; a ROLE=api process does', () => {
    const worker = filesLoadedBy('worker', databaseUrl);
    expect(worker.some((file) => file.endsWith('.service.ts'))).toBe(true);
    expect(worker.filter((file) => API_ONLY.some((pattern) => pattern.test(file)))).toEqual([]);

    const api = filesLoadedBy('api', databaseUrl);
    for (const pattern of API_ONLY) expect(api.some((file) => pattern.test(file))).toBe(true);
  });
});
