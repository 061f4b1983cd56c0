import { join } from 'node:path';

/** The local HA cluster that tests in test/ha brought up is stopped again (one that ran before is left alone). */
export default async function globalTeardown(): Promise<void> {
  if (process.env.COUPONS_CLUSTER_RAN_BEFORE !== 'false') return;
  const { LocalCluster } = require('../../src/infra/local-services/cluster.js') as typeof import('../../src/infra/local-services/cluster');
  const { stateDirOf } = require('../../src/infra/local-services/servers.js') as typeof import('../../src/infra/local-services/servers');
  const cluster = new LocalCluster(stateDirOf(join(__dirname, '..', '..')), { info: () => undefined, warn: (msg) => console.error(msg) });
  if (cluster.isRunning()) await cluster.down();
}
