import type { AppContext } from '../app-context.js';
import type { Caller } from './auth/caller.js';

/** What every resolver receives as its GraphQL context. */
export interface GraphQLContext {
  app: AppContext;
  /** Set for every operation that reaches a resolver: requests without a valid key are refused before. */
  caller: Caller | null;
  /**
   * Scheme and host the request was sent to ("http://api.example:4000"), for absolute links; null
   * over WebSocket. A function: worked out only by the few fields that need it.
   */
  requestOrigin(): string | null;
}
