import { errorCode } from '../helpers/graphql-client';
import { startTestApp, type TestApp } from '../helpers/test-app';

const LIST_FIELDS = `id name kind fixedCode fixedLimit totalCodes assignedCodes availableCodes warningLimit alertEmails expiresAt status createdAt updatedAt`;
const CREATE = `mutation($input: CreateCouponListInput!) { createCouponList(input: $input) { ${LIST_FIELDS} } }`;
const UPDATE = `mutation($id: ID!, $input: UpdateCouponListInput!) { updateCouponList(id: $id, input: $input) { ${LIST_FIELDS} } }`;

describe('coupon lists', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.destroy());

  it('creates FIXED and UNIQUE lists with exact figures', async () => {
    const fixed = await t.gql(CREATE, {
      input: { name: 'Welcome 10%', kind: 'FIXED', fixedCode: 'WELCOME10', fixedLimit: 500, warningLimit: 50, alertEmails: ['ops@example.com'] },
    });
    expect(fixed.errors).toBeUndefined();
    expect(fixed.data.createCouponList).toMatchObject({
      name: 'Welcome 10%', kind: 'FIXED', fixedCode: 'WELCOME10', fixedLimit: 500,
      totalCodes: 500, assignedCodes: 0, availableCodes: 500, warningLimit: 50, alertEmails: ['ops@example.com'], expiresAt: null, status: 'ACTIVE',
    });
    const unique = await t.gql(CREATE, { input: { name: 'Black Friday', kind: 'UNIQUE', expiresAt: '2031-11-28T23:59:59.000Z' } });
    expect(unique.data.createCouponList).toMatchObject({
      kind: 'UNIQUE', fixedCode: null, fixedLimit: null, totalCodes: 0, availableCodes: 0, alertEmails: [],
      expiresAt: '2031-11-28T23:59:59.000Z', status: 'EXHAUSTED',
    });
    const read = await t.gql(`query($id: ID!) { couponList(id: $id) { ${LIST_FIELDS} } }`, { id: fixed.data.createCouponList.id });
    expect(read.data.couponList).toEqual(fixed.data.createCouponList);
    expect((await t.gql(`{ couponList(id: "424242") { id } }`)).data.couponList).toBeNull();
    expect((await t.gql(`{ couponList(id: "not-an-id") { id } }`)).data.couponList).toBeNull();
  });

  it.each([
    [{ name: '', kind: 'UNIQUE' }, 'input.name'],
    [{ name: 'x', kind: 'FIXED', fixedLimit: 5 }, 'input.fixedCode'],
    [{ name: 'x', kind: 'FIXED', fixedCode: 'A' }, 'input.fixedLimit'],
    [{ name: 'x', kind: 'FIXED', fixedCode: 'A', fixedLimit: -1 }, 'input.fixedLimit'],
    [{ name: 'x', kind: 'FIXED', fixedCode: 'A B', fixedLimit: 1 }, 'input.fixedCode'],
    [{ name: 'x', kind: 'UNIQUE', fixedCode: 'A' }, 'input.fixedCode'],
    [{ name: 'x', kind: 'UNIQUE', warningLimit: -3 }, 'input.warningLimit'],
    [{ name: 'x', kind: 'UNIQUE', alertEmails: ['ops@example.com', 'not-an-email'] }, 'input.alertEmails[1]'],
  ])('refuses %j naming %s', async (input, field) => {
    const response = await t.gql(CREATE, { input });
    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(response.errors![0].extensions!.field).toBe(field);
    expect(response.errors![0].message).toContain(field);
  });

  it('refuses an expiresAt that is not a date as BAD_USER_INPUT, in variables and inline', async () => {
    const inVariables = await t.gql(CREATE, { input: { name: 'x', kind: 'UNIQUE', expiresAt: 'next tuesday' } });
    expect(errorCode(inVariables)).toBe('BAD_USER_INPUT');
    expect(inVariables.errors![0].message).toContain('expiresAt');
    const inline = await t.gql(`mutation { createCouponList(input: { name: "x", kind: UNIQUE, expiresAt: "2024-13-45" }) { id } }`);
    expect(errorCode(inline)).toBe('BAD_USER_INPUT');
  });

  it('updates lists: FIXED details, expiry (also removed), limits; refuses FIXED fields on UNIQUE lists', async () => {
    const { id } = (await t.gql(CREATE, { input: { name: 'Spring', kind: 'FIXED', fixedCode: 'SPRING', fixedLimit: 10 } })).data.createCouponList;
    const updated = await t.gql(UPDATE, { id, input: { name: 'Spring sale', fixedCode: 'SPRING25', fixedLimit: 20, expiresAt: '2032-01-01T00:00:00Z', warningLimit: 5 } });
    expect(updated.data.updateCouponList).toMatchObject({ name: 'Spring sale', fixedCode: 'SPRING25', fixedLimit: 20, totalCodes: 20, availableCodes: 20, expiresAt: '2032-01-01T00:00:00.000Z', warningLimit: 5 });
    const cleared = await t.gql(UPDATE, { id, input: { expiresAt: null, warningLimit: null } });
    expect(cleared.data.updateCouponList).toMatchObject({ expiresAt: null, warningLimit: null, name: 'Spring sale' });
    const past = await t.gql(UPDATE, { id, input: { expiresAt: '2020-01-01T00:00:00Z' } });
    expect(past.data.updateCouponList.status).toBe('EXPIRED');

    const unique = (await t.gql(CREATE, { input: { name: 'U', kind: 'UNIQUE' } })).data.createCouponList;
    const refused = await t.gql(UPDATE, { id: unique.id, input: { fixedLimit: 3 } });
    expect(errorCode(refused)).toBe('BAD_USER_INPUT');
    expect(refused.errors![0].extensions!.field).toBe('input.fixedLimit');
    expect(errorCode(await t.gql(UPDATE, { id: '987654', input: { name: 'x' } }))).toBe('NOT_FOUND');
    expect(errorCode(await t.gql(UPDATE, { id, input: { name: '   ' } }))).toBe('BAD_USER_INPUT');
  });

  it('pages with cursors, filters by status and searches names case-insensitively', async () => {
    const prefix = `Page-${Date.now()}`;
    for (let i = 0; i < 7; i++) {
      await t.gql(CREATE, { input: { name: `${prefix} ${i % 2 ? 'Summer' : 'winter'} ${i}`, kind: 'FIXED', fixedCode: `C${i}`, fixedLimit: 3 } });
    }
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    do {
      const page: any = await t.gql(`query($after: String, $search: String) { couponLists(first: 3, after: $after, search: $search) { items { name } totalCount nextCursor } }`, { after, search: prefix });
      expect(page.data.couponLists.totalCount).toBe(7);
      seen.push(...page.data.couponLists.items.map((item: { name: string }) => item.name));
      after = page.data.couponLists.nextCursor;
      pages++;
    } while (after);
    expect(pages).toBe(3);
    expect(new Set(seen).size).toBe(7);
    expect(seen[0]).toContain(' 6'); // newest first

    const summer = await t.gql(`{ couponLists(search: "${prefix.toLowerCase()} SUMMER") { totalCount } }`);
    expect(summer.data.couponLists.totalCount).toBe(3);
    const wildcard = await t.gql(`{ couponLists(search: "%%%") { totalCount } }`);
    expect(wildcard.data.couponLists.totalCount).toBe(0);

    const expired = await t.gql(`{ couponLists(status: EXPIRED) { items { status } } }`);
    expect(expired.data.couponLists.items.every((item: { status: string }) => item.status === 'EXPIRED')).toBe(true);
    const exhausted = await t.gql(`{ couponLists(status: EXHAUSTED) { items { status availableCodes } } }`);
    expect(exhausted.data.couponLists.items.length).toBeGreaterThan(0);
    expect(exhausted.data.couponLists.items.every((item: { status: string }) => item.status === 'EXHAUSTED')).toBe(true);
    const active = await t.gql(`{ couponLists(status: ACTIVE) { items { status } totalCount } }`);
    expect(active.data.couponLists.items.every((item: { status: string }) => item.status === 'ACTIVE')).toBe(true);

    expect(errorCode(await t.gql(`{ couponLists(first: 0) { totalCount } }`))).toBe('BAD_USER_INPUT');
    expect(errorCode(await t.gql(`{ couponLists(after: "garbage") { totalCount } }`))).toBe('BAD_USER_INPUT');
  });
});
