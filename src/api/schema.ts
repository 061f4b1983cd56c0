import { GraphQLSchema, lexicographicSortSchema, printSchema } from 'graphql';
import { GraphQLDateTime } from 'graphql-scalars';
import { buildSchema, type NonEmptyArray } from 'type-graphql';
import { apiModules } from '../modules/api-index.js';
import { authChecker } from '../modules/auth/auth-checker.js';
import type { AppPubSub } from '../infra/pubsub/pubsub.js';

/** Where resolvers come from: one instance per class, built with the process's context (its services in its constructor). */
export interface ResolverContainer {
  get(resolverClass: new (...args: never[]) => unknown): unknown;
}

/**
 * Builds the executable schema from every module's resolvers. `container` makes the resolver
 * instances; without one (printing the SDL) no resolver ever runs.
 */
export async function buildAppSchema(pubSub: Pick<AppPubSub, 'publish' | 'subscribe'>, container?: ResolverContainer): Promise<GraphQLSchema> {
  const resolvers = apiModules.flatMap((module) => module.resolvers);
  return buildSchema({
    resolvers: resolvers as unknown as NonEmptyArray<Function>,
    ...(container ? { container: { get: (resolverClass: Function) => container.get(resolverClass as new (...args: never[]) => unknown) } } : {}),
    authChecker,
    // The contract names the scalar DateTime (ISO 8601, UTC).
    scalarsMap: [{ type: Date, scalar: GraphQLDateTime }],
    pubSub: pubSub as never,
    // Inputs are checked by the services, which name the offending field in BAD_USER_INPUT errors.
    validate: false,
  });
}

/** The SDL checked in as schema.graphql: sorted so that it changes only when the API does. */
export function printAppSchema(schema: GraphQLSchema): string {
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}
