import type { AppModule } from '../app-module.js';
import { CouponListEdited, CouponListStockChanged } from '../lists/coupon-list.events.js';
import { LOW_STOCK_MAIL_QUEUE, LOW_STOCK_SWEEP_QUEUE, LowStockAlertService, type LowStockMailJob } from './low-stock-alert.service.js';
import { LowStockMailer } from './low-stock-mailer.js';

/** Low-stock alerts: checked where stock changes, e-mailed by the workers. */
export const alertsModule: AppModule = {
  name: 'alerts',
  onInit(app) {
    const alerts = app.get(LowStockAlertService);
    app.eventBus.on(CouponListStockChanged, (event) => alerts.onStockChanged(event.list));
    // The handlers hand back their checks: the event bus counts them until done (shutdown and eventBus.idle() wait for them).
    app.eventBus.on(CouponListEdited, (event) => {
      if (event.created || event.changed.some((field) => field === 'warningLimit' || field === 'fixedLimit')) return alerts.onEdited(event.list.id);
    });
  },
  async startWorkers(app) {
    const mailer = app.get(LowStockMailer);
    app.queues.worker<LowStockMailJob>(LOW_STOCK_MAIL_QUEUE, (job) => mailer.send(job), { concurrency: 5 });

    const alerts = app.get(LowStockAlertService);
    app.queues.worker(LOW_STOCK_SWEEP_QUEUE, () => alerts.sweep());
    await app.queues
      .queue(LOW_STOCK_SWEEP_QUEUE)
      .upsertJobScheduler('low-stock-sweep', { every: app.config.LOW_STOCK_SWEEP_SECONDS * 1000 }, { name: 'sweep', opts: { removeOnComplete: true, removeOnFail: 100 } });
    // Crossings that happened while no process could check them (e.g. one died after its commit).
    await alerts.sweep().catch((error: unknown) => app.logger.warn({ err: error }, 'low-stock sweep at start-up failed'));
  },
};
