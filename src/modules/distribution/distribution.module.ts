import type { AppModule } from '../app-module.js';
import { CouponsAssigned } from '../claims/claim.events.js';
import { DistributionJob } from './distribution-job.entity.js';
import { startDistributionWorkers } from './distribution.jobs.js';
import { DistributionServices } from './distribution-services.js';

/** Bulk distribution (distributeCoupons): claims through AUTOMATED campaigns, run by a worker; delivery sends the codes. */
export const distributionModule: AppModule = {
  name: 'distribution',
  entities: [DistributionJob],
  onInit(app) {
    const { interactiveLoad, distributions } = app.get(DistributionServices);
    app.onShutdown(() => interactiveLoad.stop());
    // Widget traffic that distributions give way to: new assignments of campaigns this process is not distributing.
    app.eventBus.on(CouponsAssigned, (event) =>
      interactiveLoad.record(event.assignments.filter((assignment) => !distributions.isDistributing(assignment.campaignId)).length),
    );
  },
  async startWorkers(app) {
    const { distributions } = app.get(DistributionServices);
    await startDistributionWorkers(app, {
      distribute: (job) => distributions.run(job),
      resume: () => distributions.resumeLost(),
    });
  },
};
