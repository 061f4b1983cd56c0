import {
  getNamedType,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLObjectType,
} from 'graphql';
import mysql from 'mysql2/promise';
import { buildAppSchema } from '../../src/api/schema';
import { parseDatabaseUrl } from '../../src/config/database-url';
import { errorCode, postGraphQL, wsClient } from '../helpers/graphql-client';
import { startTestApp, type TestApp } from '../helpers/test-app';

/** A literal for a required argument of type `type` (enough to pass validation). */
function literalFor(type: GraphQLInputType): string {
  if (isNonNullType(type)) return literalFor(type.ofType);
  if (isListType(type)) return `[${literalFor(type.ofType)}]`;
  if (isEnumType(type)) return type.getValues()[0].name;
  if (isInputObjectType(type)) {
    const fields = Object.values(type.getFields()).filter((field) => isNonNullType(field.type));
    return `{ ${fields.map((field) => `${field.name}: ${literalFor(field.type)}`).join(', ')} }`;
  }
  if (isScalarType(type)) {
    switch (type.name) {
      case 'Int':
      case 'Float':
        return '1';
      case 'Boolean':
        return 'true';
      case 'DateTime':
        return '"2030-01-01T00:00:00Z"';
      default:
        return '"1"';
    }
  }
  throw new Error(`no literal for ${String(type)}`);
}

function operationFor(kind: 'query' | 'mutation' | 'subscription', field: GraphQLField<unknown, unknown>): string {
  const args = field.args.filter((arg) => isNonNullType(arg.type));
  const argText = args.length ? `(${args.map((arg) => `${arg.name}: ${literalFor(arg.type)}`).join(', ')})` : '';
  const selection = isObjectType(getNamedType(field.type)) ? ' { __typename }' : '';
  return `${kind} { ${field.name}${argText}${selection} }`;
}

const takesUpload = (field: GraphQLField<unknown, unknown>) => field.args.some((arg) => getNamedType(arg.type).name === 'Upload');

/** What a CLIENT key (a widget backend) may call; everything else needs ADMIN or VIEWER. */
const CLIENT_MAY = new Set(['claimCoupon', 'redeemCoupon', 'undoRedemption', 'campaign', 'campaigns', 'couponList', 'couponLists']);
/** Reading API keys is key management: ADMIN only. */
const ADMIN_ONLY_QUERIES = new Set(['apiKeys']);
/** Exporting usage is reading: dashboards (VIEWER) may do it. */
const VIEWER_MUTATIONS = new Set(['exportCouponUsage']);

describe('API keys and roles', () => {
  let t: TestApp;
  let roots: Array<{ kind: 'query' | 'mutation'; type: GraphQLObjectType }>;

  beforeAll(async () => {
    t = await startTestApp();
    const schema = await buildAppSchema(t.app.pubSub);
    roots = [
      { kind: 'query', type: schema.getQueryType()! },
      { kind: 'mutation', type: schema.getMutationType()! },
    ];
  });
  afterAll(() => t.destroy());

  it('answers no operation of the schema without a valid key', async () => {
    let checked = 0;
    for (const { kind, type } of roots) {
      for (const field of Object.values(type.getFields())) {
        const operation = operationFor(kind, field);
        for (const key of [null, 'not-a-key']) {
          const response = await postGraphQL(t.baseUrl, operation, {}, key);
          expect({ field: field.name, code: errorCode(response), data: response.data }).toEqual({ field: field.name, code: 'UNAUTHENTICATED', data: undefined });
          expect(response.status).toBe(401);
        }
        checked++;
      }
    }
    const introspection = await postGraphQL(t.baseUrl, '{ __schema { queryType { name } } }', {}, null);
    expect(errorCode(introspection)).toBe('UNAUTHENTICATED');
    expect(checked).toBeGreaterThanOrEqual(10);
  });

  it('refuses VIEWER keys every mutation but exports, and CLIENT keys all but claimCoupon and catalog reads', async () => {
    const viewer = await t.createKey('VIEWER');
    const client = await t.createKey('CLIENT');
    for (const { kind, type } of roots) {
      for (const field of Object.values(type.getFields())) {
        if (takesUpload(field)) continue; // an Upload argument cannot be written inline; covered by the upload tests
        const operation = operationFor(kind, field);
        const asViewer = errorCode(await t.gql(operation, {}, viewer));
        const asClient = errorCode(await t.gql(operation, {}, client));
        if ((kind === 'mutation' && !VIEWER_MUTATIONS.has(field.name)) || ADMIN_ONLY_QUERIES.has(field.name)) expect({ field: field.name, asViewer }).toEqual({ field: field.name, asViewer: 'FORBIDDEN' });
        else expect({ field: field.name, asViewer }).not.toEqual({ field: field.name, asViewer: 'FORBIDDEN' });
        if (CLIENT_MAY.has(field.name)) expect({ field: field.name, asClient }).not.toEqual({ field: field.name, asClient: 'FORBIDDEN' });
        else expect({ field: field.name, asClient }).toEqual({ field: field.name, asClient: 'FORBIDDEN' });
      }
    }
  });

  it('creates keys that work at once, stores only their hash, and revokes them', async () => {
    const created = await t.gql(`mutation { createApiKey(name: "Dashboard", role: VIEWER) { secret apiKey { id name role createdAt revokedAt } } }`);
    const { secret, apiKey } = created.data.createApiKey;
    expect(apiKey).toMatchObject({ name: 'Dashboard', role: 'VIEWER', revokedAt: null });
    expect(secret).toMatch(/^ck_[A-Za-z0-9_-]{40,}$/);

    const { database, ...server } = parseDatabaseUrl(t.databaseUrl);
    const connection = await mysql.createConnection({ ...server, database });
    const [rows] = await connection.query<any[]>('SELECT * FROM api_keys WHERE id = ?', [apiKey.id]);
    await connection.end();
    expect(JSON.stringify(rows)).not.toContain(secret);
    expect(rows[0].key_hash).toMatch(/^[0-9a-f]{64}$/);

    const read = await t.gql('{ couponLists { totalCount } }', {}, secret);
    expect(read.errors).toBeUndefined();

    const revoked = await t.gql(`mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }`, { id: apiKey.id });
    expect(revoked.data.revokeApiKey.revokedAt).toEqual(expect.any(String));
    expect(errorCode(await t.gql('{ couponLists { totalCount } }', {}, secret))).toBe('UNAUTHENTICATED');
    expect(errorCode(await t.gql(`mutation { revokeApiKey(id: "999999") { id } }`))).toBe('NOT_FOUND');
    expect(errorCode(await t.gql(`mutation { createApiKey(name: "  ", role: ADMIN) { secret } }`))).toBe('BAD_USER_INPUT');
  });

  it('closes WebSocket connections without a valid key (4401) and for CLIENT keys (4403)', async () => {
    const closeCode = (key: string | null) =>
      new Promise<number>((resolve) => {
        const client = wsClient(t.baseUrl, key, { onClose: (event) => resolve(event.code) });
        client.subscribe({ query: 'subscription { __typename }' }, { next: () => undefined, error: () => undefined, complete: () => undefined });
      });
    expect(await closeCode(null)).toBe(4401);
    expect(await closeCode('ck_wrong')).toBe(4401);
    expect(await closeCode(await t.createKey('CLIENT'))).toBe(4403);
  });
});
