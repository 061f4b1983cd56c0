import { LocalCluster } from './cluster.js';
import { consoleServicesLogger as logger, ensureLocalServicesFor, findProjectRoot } from './from-environment.js';
import { localServicesStatus, stopLocalServices } from './local-services.js';
import { stateDirOf } from './servers.js';

/**
 * `npm run services:up [-- --cluster]`, `services:down [-- --cluster]`, `status`. With
 * --cluster: the local Galera cluster, Sentinel group and Redis Cluster only (see cluster.ts);
 * `down` without it stops the single servers and the cluster.
 */
async function main(command: string | undefined, flags: string[]): Promise<void> {
  const projectRoot = findProjectRoot(__dirname);
  const cluster = new LocalCluster(stateDirOf(projectRoot), logger);
  const clusterOnly = flags.includes('--cluster');
  switch (command) {
    case 'up':
      if (clusterOnly) await cluster.up();
      else await ensureLocalServicesFor(process.env, projectRoot);
      return;
    case 'down':
      if (!clusterOnly) await stopLocalServices(projectRoot, logger);
      await cluster.down();
      return;
    case 'status':
      console.log(await localServicesStatus(projectRoot));
      return;
    default:
      throw new Error('Usage: node dist/src/infra/local-services/cli.js up|down|status [--cluster]');
  }
}

main(process.argv[2], process.argv.slice(3)).catch((err: unknown) => {
  logger.warn(err instanceof Error ? err.message : String(err));
  process.exitCode = 1;
});
