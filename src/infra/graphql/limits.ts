import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { GraphQLError, Kind, NoSchemaIntrospectionCustomRule, visit, type DocumentNode, type GraphQLSchema, type ValidationContext, type ValidationRule } from 'graphql';
import { fieldExtensionsEstimator, getComplexity, simpleEstimator, type ComplexityEstimatorArgs } from 'graphql-query-complexity';
import type { AppConfig } from '../../config/config.js';

/**
 * Limits on what one GraphQL document may ask for, checked before anything runs, the same over
 * HTTP and WebSocket: depth and aliases (graphql-armor's rules), tokens (the parser), and cost
 * (graphql-query-complexity, which knows page sizes). A document over a limit is refused with a
 * message naming the variable that sets it.
 */
export interface DocumentLimits {
  maxDepth: number;
  maxAliases: number;
  maxCost: number;
  maxTokens: number;
  /** Introspection is off in production. */
  introspection: boolean;
}

export const documentLimits = (config: AppConfig): DocumentLimits => ({
  maxDepth: config.GRAPHQL_MAX_DEPTH,
  maxAliases: config.GRAPHQL_MAX_ALIASES,
  maxCost: config.GRAPHQL_MAX_COST,
  maxTokens: config.GRAPHQL_MAX_TOKENS,
  introspection: config.NODE_ENV !== 'production',
});

/** The rules report a plain validation error (HTTP 400) instead of throwing (which answers 500). */
const reportAs = (variable: string) => ({
  propagateOnRejection: false,
  onReject: [
    (context: ValidationContext | null, error: GraphQLError) =>
      context?.reportError(new GraphQLError(`${error.message.replace(/^Syntax Error: /, '')} Set by ${variable}.`, { nodes: error.nodes })),
  ],
});

/** Depth and alias limits as validation rules (Apollo's validationRules, graphql-ws's validate). */
export function limitRules(limits: DocumentLimits): ValidationRule[] {
  return [
    maxDepthRule({ n: limits.maxDepth, ...reportAs('GRAPHQL_MAX_DEPTH') }) as unknown as ValidationRule,
    maxAliasesRule({ n: limits.maxAliases, ...reportAs('GRAPHQL_MAX_ALIASES') }) as unknown as ValidationRule,
  ];
}

/** The rules for graphql-ws, which does not turn introspection off by itself. */
export function webSocketRules(limits: DocumentLimits): ValidationRule[] {
  return [...limitRules(limits), ...(limits.introspection ? [] : [NoSchemaIntrospectionCustomRule])];
}

const estimators = [fieldExtensionsEstimator(), simpleEstimator({ defaultComplexity: 1 })];

/** Per parsed document (Apollo keeps one per distinct query text): the variables that set page sizes, and costs seen. */
const costs = new WeakMap<DocumentNode, { pageVariables: string[]; byPage: Map<string, number> }>();
const MAX_COSTS_PER_DOCUMENT = 100;

/** Names of the variables passed as a field's `first` argument: the only ones a cost depends on. */
function pageVariablesOf(document: DocumentNode): string[] {
  const names = new Set<string>();
  visit(document, {
    Argument(node) {
      if (node.name.value === 'first' && node.value.kind === Kind.VARIABLE) names.add(node.value.name.value);
    },
  });
  return [...names];
}

/**
 * The document's cost: 1 per field, and a paged field costs its page size times its selection
 * (see pagedFieldCost). Null when it cannot be computed (bad variables: execution reports them).
 * Remembered per document and page sizes, so the claim path computes it once, not per request.
 */
export function documentCost(schema: GraphQLSchema, document: DocumentNode, variables: Record<string, unknown> | undefined, operationName?: string | null): number | null {
  let known = costs.get(document);
  if (!known) costs.set(document, (known = { pageVariables: pageVariablesOf(document), byPage: new Map() }));
  const key = `${operationName ?? ''}|${known.pageVariables.map((name) => JSON.stringify(variables?.[name] ?? null)).join(',')}`;
  const cached = known.byPage.get(key);
  if (cached !== undefined) return cached;
  let cost: number;
  try {
    cost = getComplexity({ schema, query: document, variables: variables ?? {}, operationName: operationName ?? undefined, estimators });
  } catch {
    return null;
  }
  if (known.byPage.size < MAX_COSTS_PER_DOCUMENT) known.byPage.set(key, cost);
  return cost;
}

/** An error when the document costs more than GRAPHQL_MAX_COST. */
export function costError(cost: number | null, limits: DocumentLimits): GraphQLError | null {
  if (cost === null || cost <= limits.maxCost) return null;
  return new GraphQLError(
    `Query cost ${cost} exceeds the limit of ${limits.maxCost} (GRAPHQL_MAX_COST): ask for smaller pages or fewer fields.`,
    { extensions: { code: 'GRAPHQL_VALIDATION_FAILED', cost, maxCost: limits.maxCost, http: { status: 400 } } },
  );
}

/**
 * `complexity` of a paged field: its page (`first`, or the default; at most maxPage, beyond
 * which the field itself refuses the argument) times the cost of one item.
 */
export const pagedFieldCost =
  (defaultPage: number, maxPage: number) =>
  ({ args, childComplexity }: ComplexityEstimatorArgs): number => {
    const first = typeof args.first === 'number' ? args.first : defaultPage;
    return 1 + Math.min(Math.max(first, 1), maxPage) * childComplexity;
  };
