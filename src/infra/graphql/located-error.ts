import { GraphQLError, responsePathAsArray, type GraphQLResolveInfo } from 'graphql';
import { DomainError } from '../../common/errors.js';

/**
 * A domain error as graphql-js would wrap it (at the resolver's field, path and locations the
 * same), built without a stack trace. graphql-js's own wrapping captures one for every error,
 * which costs more than the rest of a claim refused in a finished campaign; resolvers whose
 * refusals are frequent answers rethrow through this. Anything else passes through unchanged.
 */
export function locatedDomainError(error: unknown, info: GraphQLResolveInfo): unknown {
  if (!(error instanceof DomainError)) return error;
  // As DomainError's constructor does (which must call super() itself).
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new GraphQLError(error.message, { nodes: info.fieldNodes, path: responsePathAsArray(info.path), originalError: error });
  } finally {
    Error.stackTraceLimit = limit;
  }
}
