import { errorCode } from '../helpers/graphql-client';
import { startTestApp, type TestApp } from '../helpers/test-app';

describe('campaigns', () => {
  let t: TestApp;
  let fixedId: string;
  let emptyUniqueId: string;

  beforeAll(async () => {
    t = await startTestApp();
    const create = `mutation($input: CreateCouponListInput!) { createCouponList(input: $input) { id } }`;
    fixedId = (await t.gql(create, { input: { name: 'Fixed', kind: 'FIXED', fixedCode: 'SPIN', fixedLimit: 5 } })).data.createCouponList.id;
    emptyUniqueId = (await t.gql(create, { input: { name: 'Empty', kind: 'UNIQUE' } })).data.createCouponList.id;
  });
  afterAll(() => t.destroy());

  it('creates a campaign over lists in order, reads it and finishes it by hand', async () => {
    const created = await t.gql(
      `mutation($input: CreateCampaignInput!) { createCampaign(input: $input) { id name kind status finishedAt finishReason lists { id } } }`,
      { input: { name: 'Wheel', kind: 'SPIN_TO_WIN', listIds: [emptyUniqueId, fixedId] } },
    );
    expect(created.errors).toBeUndefined();
    const campaign = created.data.createCampaign;
    expect(campaign).toMatchObject({ name: 'Wheel', kind: 'SPIN_TO_WIN', status: 'ACTIVE', finishedAt: null, finishReason: null });
    expect(campaign.lists.map((list: { id: string }) => list.id)).toEqual([emptyUniqueId, fixedId]);

    const active = await t.gql(`{ campaigns(status: ACTIVE) { id } }`);
    expect(active.data.campaigns.map((c: { id: string }) => c.id)).toContain(campaign.id);

    const finished = await t.gql(`mutation($id: ID!) { finishCampaign(id: $id) { status finishReason finishedAt } }`, { id: campaign.id });
    expect(finished.data.finishCampaign).toMatchObject({ status: 'FINISHED', finishReason: 'MANUAL', finishedAt: expect.any(String) });
    const again = await t.gql(`mutation($id: ID!) { finishCampaign(id: $id) { status finishedAt } }`, { id: campaign.id });
    expect(again.data.finishCampaign.finishedAt).toBe(finished.data.finishCampaign.finishedAt);
    const read = await t.gql(`query($id: ID!) { campaign(id: $id) { status } }`, { id: campaign.id });
    expect(read.data.campaign.status).toBe('FINISHED');
    expect((await t.gql(`{ campaigns(status: FINISHED) { id } }`)).data.campaigns.map((c: { id: string }) => c.id)).toContain(campaign.id);
  });

  it.each([
    [{ name: 'x', kind: 'WIDGET', listIds: [] }, 'BAD_USER_INPUT'],
    [{ name: '', kind: 'WIDGET', listIds: ['1'] }, 'BAD_USER_INPUT'],
    [{ name: 'x', kind: 'WIDGET', listIds: ['abc'] }, 'BAD_USER_INPUT'],
    [{ name: 'x', kind: 'WIDGET', listIds: ['99999'] }, 'NOT_FOUND'],
  ])('refuses %j with %s', async (input, code) => {
    const response = await t.gql(`mutation($input: CreateCampaignInput!) { createCampaign(input: $input) { id } }`, { input });
    expect(errorCode(response)).toBe(code);
  });

  it('refuses a campaign none of whose lists can hand out a code, and a list named twice', async () => {
    const none = await t.gql(`mutation($input: CreateCampaignInput!) { createCampaign(input: $input) { id } }`, {
      input: { name: 'x', kind: 'WIDGET', listIds: [emptyUniqueId] },
    });
    expect(errorCode(none)).toBe('BAD_USER_INPUT');
    const twice = await t.gql(`mutation($input: CreateCampaignInput!) { createCampaign(input: $input) { id } }`, {
      input: { name: 'x', kind: 'WIDGET', listIds: [fixedId, fixedId] },
    });
    expect(errorCode(twice)).toBe('BAD_USER_INPUT');
    expect(errorCode(await t.gql(`mutation { finishCampaign(id: "777777") { id } }`))).toBe('NOT_FOUND');
    expect((await t.gql(`{ campaign(id: "777777") { id } }`)).data.campaign).toBeNull();
  });
});
