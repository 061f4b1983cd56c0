import { unwrapResolverError } from '@apollo/server/errors';
import type { GraphQLFormattedError, SourceLocation } from 'graphql';
import { randomUUID } from 'node:crypto';
import { DomainError } from '../../common/errors.js';
import type { Logger } from '../logging/logger.js';

/** Errors whose message is meant for the client as it is. */
const CLIENT_ERROR_CODES = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_USER_INPUT',
  'BAD_REQUEST',
  'OPERATION_RESOLUTION_FAILURE',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'RATE_LIMITED',
]);

/** The parser's words when a document is over GRAPHQL_MAX_TOKENS. */
const TOO_MANY_TOKENS = /^Syntax Error: Document contains more th\w+ \d+ tokens/;

/** A literal argument of the wrong type (e.g. expiresAt: "tomorrow") is bad input, not a broken query. */
const VALUE_COERCION = /Expected value of type|got invalid value|cannot represent|Expected type/i;

/** A domain error as clients see it: its message, where it happened, its details and contract code. */
export function domainErrorJson(error: DomainError, locations: readonly SourceLocation[] | undefined, path: ReadonlyArray<string | number> | undefined): GraphQLFormattedError {
  return { message: error.message, locations, path, extensions: { ...error.details, code: error.code } };
}

/**
 * The one place where errors become what clients see: domain errors carry their contract code;
 * anything unexpected is logged with an id and reaches the client only as that id, never with a
 * stack trace, SQL or other internals.
 */
export function createErrorFormatter(logger: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = unwrapResolverError(error);
    if (original instanceof DomainError) return domainErrorJson(original, formatted.locations, formatted.path);
    const code = String(formatted.extensions?.code ?? 'INTERNAL_SERVER_ERROR');
    if (CLIENT_ERROR_CODES.has(code)) {
      const clientCode = code === 'GRAPHQL_VALIDATION_FAILED' && VALUE_COERCION.test(formatted.message) ? 'BAD_USER_INPUT' : code;
      const { stacktrace: _ignored, ...extensions } = formatted.extensions ?? {};
      const message = TOO_MANY_TOKENS.test(formatted.message) ? `${formatted.message} Set by GRAPHQL_MAX_TOKENS.` : formatted.message;
      return { ...formatted, message, extensions: { ...extensions, code: clientCode } };
    }
    const errorId = randomUUID();
    logger.error({ err: original, errorId, path: formatted.path }, 'unexpected error in GraphQL operation');
    return {
      message: `Internal server error (error id ${errorId})`,
      locations: formatted.locations,
      path: formatted.path,
      extensions: { code: 'INTERNAL_SERVER_ERROR', errorId },
    };
  };
}
