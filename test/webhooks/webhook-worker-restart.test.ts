import type { ChildProcess } from 'node:child_process';
import { WEBHOOK_DISPATCH_QUEUE, WEBHOOK_SEND_QUEUE } from '../../src/modules/webhooks/webhook-jobs';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { buildService, killProcess, startWorkerProcess } from '../helpers/worker-process';
import { createEndpoint, deliveries, waitForDeliveries } from './webhook-fixtures';
import { WebhookReceiver } from './webhook-receiver';
import { claim, createCampaign, createUniqueList } from '../helpers/fixtures';

/** Webhook delivery across worker deaths: the outbox row is the truth, whatever happened to the jobs. */
describe('webhooks when the worker dies', () => {
  let t: TestApp;
  let receiver: WebhookReceiver;
  const workers: ChildProcess[] = [];
  const workerEnv = { WEBHOOK_TIMEOUT_MS: '3000', WEBHOOK_SWEEP_INTERVAL_MS: '500', WEBHOOK_RETRY_SCHEDULE_SECONDS: '0.5,1,2' };

  beforeAll(async () => {
    buildService();
    receiver = new WebhookReceiver();
    await receiver.start();
    // This process only answers the API: every delivery is made by a worker process.
    t = await startTestApp({ env: { ROLE: 'api', ...workerEnv } });
  }, 120_000);
  afterAll(async () => {
    for (const worker of workers) await killProcess(worker);
    await t.destroy();
    await receiver.stop();
  });

  const startWorker = () => {
    const worker = startWorkerProcess(t, workerEnv);
    workers.push(worker);
    return worker;
  };

  it('a message committed while no worker ran, its jobs lost, is delivered once a worker starts', async () => {
    const endpoint = await createEndpoint(t, { url: receiver.url('/later'), events: ['COUPON_ASSIGNED'] });
    receiver.route('/later', endpoint.secret);
    const campaignId = await createCampaign(t, [await createUniqueList(t, 'Later', ['LATER-1'])]);
    const assignment = (await claim(t, { campaignId, userId: 'later-user' })).data.claimCoupon;
    await t.app.eventBus.idle();
    // Redis lost every webhook job: only the row in MySQL says there is something to send.
    for (const name of [WEBHOOK_DISPATCH_QUEUE, WEBHOOK_SEND_QUEUE]) await t.app.queues.queue(name).obliterate({ force: true });
    expect(receiver.at('/later')).toEqual([]);

    startWorker();
    await receiver.waitFor(() => receiver.at('/later').length === 1, 'the delivery after the worker started');
    const [got] = receiver.at('/later');
    expect(got.verifyError).toBeNull();
    expect(got.payload!.data.assignmentId).toBe(assignment.id);
    await killProcess(workers.pop()!);
  }, 120_000);

  it('a worker killed mid-send: a new worker sends the message again with the same webhook-id', async () => {
    const endpoint = await createEndpoint(t, { url: receiver.url('/killed'), events: ['COUPON_ASSIGNED'] });
    // The first request is never answered: the worker dies while it waits.
    receiver.route('/killed', endpoint.secret, [{ hold: true }, { status: 200 }]);
    const first = startWorker();
    const campaignId = await createCampaign(t, [await createUniqueList(t, 'Killed', ['KILLED-1'])]);
    await claim(t, { campaignId, userId: 'killed-user' });
    await receiver.waitFor(() => receiver.at('/killed').length === 1, 'the first attempt');
    await killProcess(first);
    const [pending] = await deliveries(t, endpoint.id);
    expect(pending).toMatchObject({ status: 'PENDING', attempts: 0 });

    startWorker();
    await receiver.waitFor(() => receiver.at('/killed').length >= 2, 'the attempt of the new worker', 90_000);
    const [held, resent] = receiver.at('/killed');
    expect(resent.id).toBe(held.id);
    expect(resent.body).toBe(held.body);
    expect(resent.verifyError).toBeNull();
    const [delivered] = await waitForDeliveries(t, endpoint.id, 1, (items) => items[0].status === 'DELIVERED');
    expect(delivered).toMatchObject({ status: 'DELIVERED', attempts: 1, messageId: held.id });
  }, 180_000);
});
