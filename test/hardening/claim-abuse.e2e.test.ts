import type { Client } from 'graphql-ws';
import { errorCode, wsClient } from '../helpers/graphql-client';
import { startTestApp, TEST_ADMIN_KEY, type TestApp } from '../helpers/test-app';
import { ASSIGNMENT_FIELDS, claim, codesNamed, createCampaign, createUniqueList } from '../helpers/fixtures';

const aliasedClaims = (campaignId: string, count: number) =>
  `mutation { ${Array.from({ length: count }, (_, i) => `c${i}: claimCoupon(input: { campaignId: "${campaignId}", userId: "invented-${i}" }) { id code }`).join(' ')} }`;

async function figures(t: TestApp, listId: string) {
  const [row] = await t.app.dataSource.query('SELECT total_codes, assigned_codes FROM coupon_lists WHERE id = ?', [listId]);
  const [{ n }] = await t.app.dataSource.query('SELECT COUNT(*) AS n FROM coupon_assignments WHERE list_id = ?', [listId]);
  return { total: Number(row.total_codes), assigned: Number(row.assigned_codes), assignments: Number(n) };
}

/** Sends one operation over a fresh WebSocket and returns the first result or error. */
function overWebSocket(t: TestApp, query: string, key = TEST_ADMIN_KEY): Promise<{ data?: any; errors?: any[] }> {
  const client: Client = wsClient(t.baseUrl, key);
  return new Promise((resolve) => {
    client.subscribe(
      { query },
      {
        next: (result) => resolve(result as { data?: any; errors?: any[] }),
        error: (error) => resolve({ errors: Array.isArray(error) ? error : [error] }),
        complete: () => undefined,
      },
    );
  }).finally(() => client.dispose()) as Promise<{ data?: any; errors?: any[] }>;
}

describe('a CLIENT key cannot drain lists', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ env: { CLAIM_RATE_LIMIT: '5' } });
  });
  afterAll(() => t.destroy());

  it('refuses 500 aliased claims in one POST, and 31, before any runs, naming the limit', async () => {
    const listId = await createUniqueList(t, 'aliases', codesNamed('A', 600));
    const campaignId = await createCampaign(t, [listId]);
    const client = await t.createKey('CLIENT');
    const before = await figures(t, listId);
    // 500 aliased claims are more tokens than a document may have.
    const huge = await t.gql(aliasedClaims(campaignId, 500), {}, client);
    expect({ status: huge.status, code: errorCode(huge), data: huge.data }).toEqual({ status: 400, code: 'GRAPHQL_PARSE_FAILED', data: undefined });
    expect(huge.errors![0]!.message).toMatch(/more th\w+ 5000 tokens.*GRAPHQL_MAX_TOKENS/);
    const many = await t.gql(aliasedClaims(campaignId, 31), {}, client);
    expect({ status: many.status, code: errorCode(many), data: many.data }).toEqual({ status: 400, code: 'GRAPHQL_VALIDATION_FAILED', data: undefined });
    expect(many.errors![0]!.message).toMatch(/Aliases limit of 30 exceeded, found 31.*GRAPHQL_MAX_ALIASES/);
    expect(await figures(t, listId)).toEqual(before);
    const availability = await t.gql(`query($id: ID!) { couponList(id: $id) { availableCodes } }`, { id: listId });
    expect(availability.data.couponList.availableCodes).toBe(600);
  });

  it('refuses a batch of operations in one POST and a field repeated with one directive hundreds of times, claiming nothing', async () => {
    const listId = await createUniqueList(t, 'batched', codesNamed('B', 200));
    const campaignId = await createCampaign(t, [listId]);
    const client = await t.createKey('CLIENT');
    const before = await figures(t, listId);
    const post = (body: unknown) =>
      fetch(`${t.baseUrl}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${client}` }, body: JSON.stringify(body) });
    const one = (i: number) => ({ query: `mutation { claimCoupon(input: { campaignId: "${campaignId}", userId: "batched-${i}" }) { id } }` });
    const batch = await post(Array.from({ length: 100 }, (_, i) => one(i)));
    expect(batch.status).toBe(400);
    expect(await batch.text()).toMatch(/batching/i);
    const directives = await post({ query: `mutation { claimCoupon(input: { campaignId: "${campaignId}", userId: "d" }) ${'@include(if: true) '.repeat(300)} { id } }` });
    expect(directives.status).toBe(400);
    expect((await directives.json()).errors[0].extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(await figures(t, listId)).toEqual(before);
  });

  it('counts CLAIM_RATE_LIMIT per claim, aliases included', async () => {
    const listId = await createUniqueList(t, 'rate', codesNamed('R', 50));
    const campaignId = await createCampaign(t, [listId]);
    const client = await t.createKey('CLIENT');
    // Ten claims in one request against a limit of 5 a second: counted per request, all ten would pass.
    const response = await t.gql(aliasedClaims(campaignId, 10), {}, client);
    expect(errorCode(response)).toBe('RATE_LIMITED');
    const { assigned } = await figures(t, listId);
    expect(assigned).toBeGreaterThanOrEqual(5);
    expect(assigned).toBeLessThan(10);
  });

  it('gives a CLIENT key with campaign scopes FORBIDDEN in any other campaign, and consumes nothing', async () => {
    const listA = await createUniqueList(t, 'scope A', codesNamed('SA', 5));
    const listB = await createUniqueList(t, 'scope B', codesNamed('SB', 5));
    const campaignA = await createCampaign(t, [listA]);
    const campaignB = await createCampaign(t, [listB]);
    const created = await t.gql(
      `mutation($ids: [ID!]) { createApiKey(name: "widget A", role: CLIENT, campaignIds: $ids) { secret apiKey { id campaignIds } } }`,
      { ids: [campaignA] },
    );
    expect(created.data.createApiKey.apiKey.campaignIds).toEqual([campaignA]);
    const scoped = created.data.createApiKey.secret as string;

    const before = await figures(t, listB);
    const refused = await claim(t, { campaignId: campaignB, userId: 'someone' }, scoped);
    expect(errorCode(refused)).toBe('FORBIDDEN');
    expect(refused.errors![0]!.message).toContain(`campaign ${campaignB}`);
    expect(await figures(t, listB)).toEqual(before);
    expect(errorCode(await claim(t, { campaignId: campaignB, userId: 'someone', listId: listA }, scoped))).toBe('FORBIDDEN');

    const allowed = await claim(t, { campaignId: campaignA, userId: 'someone' }, scoped);
    expect(allowed.errors).toBeUndefined();
    // An unscoped CLIENT key still claims everywhere; the key lists its scopes.
    expect((await claim(t, { campaignId: campaignB, userId: 'other' }, await t.createKey('CLIENT'))).errors).toBeUndefined();
    const keys = await t.gql('{ apiKeys { name campaignIds } }');
    expect(keys.data.apiKeys.find((key: { name: string }) => key.name === 'widget A').campaignIds).toEqual([campaignA]);
  });

  it('refuses campaign scopes that do not exist, naming the field, and creates no key', async () => {
    const count = async () => Number((await t.app.dataSource.query('SELECT COUNT(*) AS n FROM api_keys'))[0].n);
    const before = await count();
    for (const [ids, role] of [[['999999'], 'CLIENT'], [['abc'], 'CLIENT'], [[await createCampaign(t, [await createUniqueList(t, 'v', ['V1'])])], 'VIEWER']] as const) {
      const response = await t.gql(`mutation($ids: [ID!], $role: ApiKeyRole!) { createApiKey(name: "x", role: $role, campaignIds: $ids) { secret } }`, { ids, role });
      expect({ code: errorCode(response), field: response.errors?.[0]?.extensions?.field }).toEqual({ code: 'BAD_USER_INPUT', field: 'campaignIds' });
    }
    expect(await count()).toBe(before);
  });
});

describe('document limits', () => {
  let t: TestApp;
  let listId: string;
  beforeAll(async () => {
    t = await startTestApp({ env: { GRAPHQL_MAX_DEPTH: '3' } });
    listId = await createUniqueList(t, 'limits', codesNamed('L', 10));
    await createCampaign(t, [listId]);
  });
  afterAll(() => t.destroy());

  const shallow = '{ campaigns { lists { id } } couponLists { items { id } } }';
  const deep = '{ campaigns { lists { delivery { smsMessage { id } } } } }';

  it('refuses documents deeper than GRAPHQL_MAX_DEPTH, over HTTP and WebSocket, with a 400 naming the limit', async () => {
    expect((await t.gql(shallow)).errors).toBeUndefined();
    const http = await t.gql(deep);
    expect(http.status).toBe(400);
    expect(http.errors![0]!.message).toMatch(/depth limit of 3 exceeded.*GRAPHQL_MAX_DEPTH/);
    const ws = await overWebSocket(t, deep);
    expect(ws.errors![0]!.message).toMatch(/depth limit of 3 exceeded.*GRAPHQL_MAX_DEPTH/);
  });

  it('refuses too many aliases and too costly documents over the WebSocket too, before they run', async () => {
    const aliases = await overWebSocket(t, `{ ${Array.from({ length: 31 }, (_, i) => `a${i}: campaigns { id }`).join(' ')} }`);
    expect(aliases.errors![0]!.message).toMatch(/GRAPHQL_MAX_ALIASES/);
    const page = `userCoupons(userId: "u", first: 500) { ${ASSIGNMENT_FIELDS} history { kind at channel attempt outcome httpStatus error } }`;
    const costly = `{ a: ${page} b: ${page} c: ${page} }`;
    const http = await t.gql(costly);
    expect(http.status).toBe(400);
    expect(http.errors![0]!.message).toMatch(/cost \d+ exceeds the limit of 20000 \(GRAPHQL_MAX_COST\)/);
    const ws = await overWebSocket(t, costly);
    expect(ws.errors![0]!.message).toMatch(/GRAPHQL_MAX_COST/);
    // Page sizes given as variables count too, each time the same document is sent.
    const sized = `query($n: Int) { a: ${page.replace('first: 500', 'first: $n')} b: ${page.replace('first: 500', 'first: $n')} c: ${page.replace('first: 500', 'first: $n')} }`;
    expect((await t.gql(sized, { n: 10 })).errors).toBeUndefined();
    expect((await t.gql(sized, { n: 500 })).errors![0]!.message).toMatch(/GRAPHQL_MAX_COST/);
    expect((await t.gql(sized, { n: 10 })).errors).toBeUndefined();
  });

  it('lets the largest page of every paged field with its usual fields pass', async () => {
    const pages = [
      `{ userCoupons(userId: "u", first: 500) { ${ASSIGNMENT_FIELDS} history { kind at channel attempt outcome httpStatus error } deliveries { channel status attempts sentAt error createdAt updatedAt } } }`,
      `{ couponLists(first: 500) { totalCount items { id name kind totalCodes assignedCodes availableCodes status expiresAt warningLimit alertEmails createdAt updatedAt } } }`,
      `{ campaigns(first: 500) { id name kind status finishedAt finishReason lists { id name availableCodes status } } }`,
      `query($id: ID!) { codeUploads(listId: $id, first: 500) { id listId status fileName mode linesRead codesAdded duplicatesSkipped } }`,
    ];
    for (const query of pages) {
      const response = await t.gql(query, query.includes('$id') ? { id: listId } : {});
      expect({ query, errors: response.errors }).toEqual({ query, errors: undefined });
    }
  });

  it('refuses documents over GRAPHQL_MAX_TOKENS while parsing, and hides schema details from errors', async () => {
    const huge = await t.gql(`{ ${'__typename '.repeat(6000)} }`);
    expect(huge.status).toBe(400);
    expect(errorCode(huge)).toBe('GRAPHQL_PARSE_FAILED');
    const typo = await t.gql('{ couponList { idd } }');
    expect(typo.errors![0]!.message).not.toMatch(/Did you mean/);
  });
});
