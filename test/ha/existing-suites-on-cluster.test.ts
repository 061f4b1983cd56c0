import { CLUSTER_URLS, clusterCanRun, describeOnCluster, localCluster } from './cluster-helpers';

/**
 * The claim, upload-SIGKILL and expiry tests, run as they are against the local cluster: every
 * process of them writes through the Galera cluster's URL (node 1 first) and queues through the
 * Sentinel group.
 */
describeOnCluster('the claim, upload and expiry suites on Galera + Sentinel', () => {
  beforeAll(async () => {
    await localCluster();
  }, 180_000);
  if (!clusterCanRun()) return;
  process.env.DATABASE_URL = CLUSTER_URLS.DATABASE_URL;
  process.env.REDIS_URL = CLUSTER_URLS.REDIS_URL;
  require('../claims/claim-concurrency.test');
  require('../expiry/list-expiry.test');
  require('../uploads/upload-faults.test');
});
