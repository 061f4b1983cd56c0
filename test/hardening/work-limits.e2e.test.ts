import { CampaignService } from '../../src/modules/campaigns/campaign.service';
import { CodeUploadService } from '../../src/modules/uploads/code-upload.service';
import { requestExport } from '../exports/fixtures';
import { errorCode, wsClient } from '../helpers/graphql-client';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { upload } from '../uploads/upload-helpers';
import { codesNamed, createCampaign, createUniqueList, eventually } from '../helpers/fixtures';

describe('bounded work for read keys', () => {
  // No workers: exports stay QUEUED and uploads unfinished, as when the workers are busy.
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ env: { ROLE: 'api' } });
  });
  afterAll(() => t.destroy());

  it('lets one key have at most 5 exports queued or running: the sixth, even sent at once, is RATE_LIMITED', async () => {
    const listId = await createUniqueList(t, 'exports', codesNamed('E', 3));
    const viewer = await t.createKey('VIEWER');
    const rows = async () => Number((await t.app.dataSource.query('SELECT COUNT(*) AS n FROM coupon_usage_exports'))[0].n);
    const before = await rows();
    const answers = await Promise.all(Array.from({ length: 8 }, () => requestExport(t, { listId }, viewer)));
    const codes = answers.map((answer) => (answer.data ? 'QUEUED' : errorCode(answer)));
    expect(codes.filter((code) => code === 'QUEUED')).toHaveLength(5);
    expect(codes.filter((code) => code === 'RATE_LIMITED')).toHaveLength(3);
    expect(answers.find((answer) => !answer.data)!.errors![0]!.message).toMatch(/5 exports queued or running/);
    expect(await rows()).toBe(before + 5);
    expect(errorCode(await requestExport(t, { listId }, viewer))).toBe('RATE_LIMITED');
    // Another key has its own five.
    expect((await requestExport(t, { listId }, await t.createKey('VIEWER'))).data.exportCouponUsage.status).toBe('QUEUED');
    // Once one has finished, the key may ask again.
    await t.app.dataSource.query("UPDATE coupon_usage_exports SET status = 'FAILED' WHERE id = ?", [answers.find((answer) => answer.data)!.data.exportCouponUsage.id]);
    expect((await requestExport(t, { listId }, viewer)).data.exportCouponUsage.status).toBe('QUEUED');
  });

  it('reads an upload once per poll for every codeUploadProgress subscriber of this process together', async () => {
    const listId = await createUniqueList(t, 'progress', []);
    const response = await upload(t, listId, 'P-1\nP-2\n');
    const uploadId = response.data.uploadCouponCodes.id as string;
    const service = t.app.get(CodeUploadService);
    const reads: number[] = [];
    const spy = jest.spyOn(service, 'findById');
    const client = wsClient(t.baseUrl, await t.createKey('VIEWER'));
    try {
      const first = new Set<number>();
      for (let i = 0; i < 40; i++) {
        client.subscribe(
          { query: 'subscription($id: ID!) { codeUploadProgress(uploadId: $id) { id status } }', variables: { id: uploadId } },
          { next: () => first.add(i), error: () => undefined, complete: () => undefined },
        );
      }
      await eventually(() => first.size === 40, 15_000, 'every subscriber had the upload');
      spy.mockClear();
      spy.mockImplementation(function (this: CodeUploadService, id: string) {
        reads.push(Date.now());
        return CodeUploadService.prototype.findById.call(this, id);
      });
      // Three seconds of polling by 40 subscribers: one read a second, not forty.
      await eventually(() => reads.length > 0 && reads[reads.length - 1]! - reads[0]! >= 2_500, 15_000, 'three polls');
      expect(reads.length).toBeLessThanOrEqual(5);
    } finally {
      spy.mockRestore();
      await client.dispose();
    }
  });

  it('pages campaigns (the old call still answers) and loads all their lists in one query', async () => {
    const listIds = [await createUniqueList(t, 'c1', ['C1']), await createUniqueList(t, 'c2', ['C2'])];
    const campaignIds: string[] = [];
    for (let i = 0; i < 12; i++) campaignIds.push(await createCampaign(t, i % 2 ? listIds : [listIds[1]!]));
    const newestFirst = [...campaignIds].reverse();

    const all = await t.gql('{ campaigns { id } }');
    expect(all.data.campaigns.map((c: { id: string }) => c.id).slice(0, 12)).toEqual(newestFirst);
    const page1 = await t.gql('{ campaigns(first: 5) { id } }');
    expect(page1.data.campaigns.map((c: { id: string }) => c.id)).toEqual(newestFirst.slice(0, 5));
    const page2 = await t.gql('query($after: ID) { campaigns(first: 5, after: $after) { id } }', { after: newestFirst[4] });
    expect(page2.data.campaigns.map((c: { id: string }) => c.id)).toEqual(newestFirst.slice(5, 10));
    const tooBig = await t.gql('{ campaigns(first: 501) { id } }');
    expect({ code: errorCode(tooBig), field: tooBig.errors?.[0]?.extensions?.field }).toEqual({ code: 'BAD_USER_INPUT', field: 'first' });

    const spy = jest.spyOn(t.app.get(CampaignService), 'listsOfMany');
    try {
      const withLists = await t.gql('{ campaigns(first: 12) { id lists { id } } }', {}, await t.createKey('CLIENT'));
      expect(spy).toHaveBeenCalledTimes(1);
      expect(withLists.data.campaigns.map((c: { lists: Array<{ id: string }> }) => c.lists.map((l) => l.id))).toEqual(
        newestFirst.map((_, index) => ((11 - index) % 2 ? listIds : [listIds[1]])),
      );
    } finally {
      spy.mockRestore();
    }
  });
});
