import { consoleServicesLogger as logger, ensureLocalServicesFor, findProjectRoot } from './from-environment.js';
import { localServicesStatus, stopLocalServices } from './local-services.js';

async function main(command: string | undefined): Promise<void> {
  const projectRoot = findProjectRoot(__dirname);
  switch (command) {
    case 'up':
      await ensureLocalServicesFor(process.env, projectRoot);
      return;
    case 'down':
      await stopLocalServices(projectRoot, logger);
      return;
    case 'status':
      console.log(await localServicesStatus(projectRoot));
      return;
    default:
      throw new Error('Usage: node dist/src/infra/local-services/cli.js up|down|status');
  }
}

main(process.argv[2]).catch((err: unknown) => {
  logger.warn(err instanceof Error ? err.message : String(err));
  process.exitCode = 1;
});
