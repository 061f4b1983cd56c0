import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isEnumType, isInputObjectType, isObjectType, type GraphQLArgument, type GraphQLInputField, type GraphQLSchema } from 'graphql';
import { buildAppSchema, printAppSchema } from '../src/api/schema';

const noPubSub = { publish: () => undefined, subscribe: () => (async function* () {})() };
/** The public contract (names and semantics), kept in the repository beside the code that implements it. */
const contractPath = join(__dirname, '..', 'docs', 'api-contract.md');

interface ContractField { name: string; type: string; defaultValue?: string; args: Array<{ name: string; type: string; defaultValue?: string }> }

const FIELD = /(\w+)\s*(\(([^)]*)\))?\s*:\s*([\[\]\w!]+)(\s*=\s*([^\s,)]+))?/g;

function parseFields(body: string): ContractField[] {
  return [...body.matchAll(FIELD)].map((match) => ({
    name: match[1],
    type: match[4],
    defaultValue: match[6],
    args: match[3] ? [...match[3].matchAll(FIELD)].map((arg) => ({ name: arg[1], type: arg[4], defaultValue: arg[6] })) : [],
  }));
}

/** Reads the contract's GraphQL blocks: types, inputs, enums, root fields and "X gains:" lines. */
function parseContract(markdown: string) {
  const types = new Map<string, { kind: string; fields: ContractField[]; values: string[] }>();
  const add = (kind: string, name: string, fields: ContractField[], values: string[] = []) => {
    const known = types.get(name) ?? { kind, fields: [], values: [] };
    known.fields.push(...fields);
    known.values.push(...values);
    types.set(name, known);
  };
  for (const [, block] of markdown.matchAll(/```graphql\n([\s\S]*?)```/g)) {
    let section: string | null = null;
    for (const line of block.split('\n')) {
      const header = /^#\s*(Query|Mutation|Subscription)\s*$/.exec(line.trim());
      if (header) { section = header[1]; continue; }
      // "# ApiKey gains:  campaignIds: [ID!]!   # comment": the fields end where the next "#" starts.
      const gains = /^#\s*(\w+) gains:\s*([^#]*)/.exec(line.trim());
      if (gains) { add('type', gains[1], parseFields(gains[2])); continue; }
      if (section && /^\w+\s*(\(|:)/.test(line.trim())) add('type', section, parseFields(line.replace(/#.*$/, '')));
    }
    const text = block.replace(/#.*$/gm, '');
    for (const [, kind, name, body] of text.matchAll(/(type|input|enum)\s+(\w+)\s*\{([^}]*)\}/g)) {
      if (kind === 'enum') add(kind, name, [], body.split(/\s+/).filter(Boolean));
      else add(kind, name, parseFields(body));
    }
    for (const [, name] of text.matchAll(/scalar\s+(\w+)/g)) add('scalar', name, []);
  }
  return types;
}

const defaultText = (item: GraphQLArgument | GraphQLInputField) =>
  item.defaultValue === undefined ? undefined : typeof item.defaultValue === 'string' && !isEnumType(item.type) ? JSON.stringify(item.defaultValue) : String(item.defaultValue);

describe('schema.graphql', () => {
  let schema: GraphQLSchema;
  beforeAll(async () => {
    schema = await buildAppSchema(noPubSub);
  });

  it('is emitted from the code and up to date (run `npm run schema:emit`)', () => {
    const checkedIn = readFileSync(join(__dirname, '..', 'schema.graphql'), 'utf8');
    expect(checkedIn).toBe(printAppSchema(schema));
  });

  it('holds every type, field, argument and default of the public contract', () => {
    const contract = parseContract(readFileSync(contractPath, 'utf8'));
    const problems: string[] = [];
    for (const [name, spec] of contract) {
      const type = schema.getType(name);
      if (!type) { problems.push(`missing ${spec.kind} ${name}`); continue; }
      if (spec.kind === 'enum') {
        const values = isEnumType(type) ? type.getValues().map((v) => v.name) : [];
        for (const value of spec.values) if (!values.includes(value)) problems.push(`enum ${name} lacks ${value}`);
        continue;
      }
      if (spec.kind === 'scalar') continue;
      const fields = isObjectType(type) || isInputObjectType(type) ? type.getFields() : {};
      for (const field of spec.fields) {
        const actual = (fields as Record<string, any>)[field.name];
        if (!actual) { problems.push(`${name}.${field.name} is missing`); continue; }
        if (String(actual.type) !== field.type) problems.push(`${name}.${field.name} is ${String(actual.type)}, contract says ${field.type}`);
        if (field.defaultValue !== undefined && defaultText(actual) !== field.defaultValue) problems.push(`${name}.${field.name} default is ${defaultText(actual)}, contract says ${field.defaultValue}`);
        for (const arg of field.args) {
          const actualArg = (actual.args as GraphQLArgument[] | undefined)?.find((a) => a.name === arg.name);
          if (!actualArg) { problems.push(`${name}.${field.name}(${arg.name}) is missing`); continue; }
          if (String(actualArg.type) !== arg.type) problems.push(`${name}.${field.name}(${arg.name}) is ${String(actualArg.type)}, contract says ${arg.type}`);
          if (arg.defaultValue !== undefined && defaultText(actualArg) !== arg.defaultValue) problems.push(`${name}.${field.name}(${arg.name}) default is ${defaultText(actualArg)}, contract says ${arg.defaultValue}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });
});
