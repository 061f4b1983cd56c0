/**
 * Domain errors: services throw these; src/infra/graphql/format-error.ts maps them to the
 * contract's GraphQL error codes in one place.
 */
export type ErrorCode =
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'BAD_USER_INPUT'
  | 'LIST_EXHAUSTED'
  | 'LIST_EXPIRED'
  | 'CAMPAIGN_FINISHED'
  | 'CHANNEL_NOT_INTEGRATED'
  | 'RATE_LIMITED'
  | 'ALREADY_REDEEMED';

/**
 * An expected answer (a refusal, bad input), not a bug: it carries no stack trace. Capturing and
 * formatting one (graphql-js reads `stack` when it wraps the error) cost more than the rest of a
 * refused claim.
 */
export abstract class DomainError extends Error {
  abstract readonly code: ErrorCode;
  /** Extra, client-safe details put on the GraphQL error's extensions. */
  readonly details: Record<string, unknown>;

  constructor(message?: string) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      super(message);
    } finally {
      Error.stackTraceLimit = limit;
    }
    this.details = {};
  }
}

export class UnauthenticatedError extends DomainError {
  readonly code = 'UNAUTHENTICATED';
  constructor(message = 'A valid API key is required: send "Authorization: Bearer <key>"') {
    super(message);
  }
}

export class ForbiddenError extends DomainError {
  readonly code = 'FORBIDDEN';
}

export class NotFoundError extends DomainError {
  readonly code = 'NOT_FOUND';
  constructor(what: string, id: string) {
    super(`${what} ${JSON.stringify(id)} does not exist`);
    this.details.id = id;
  }
}

/** Bad input; `field` names the argument or input field that was wrong. */
export class BadUserInputError extends DomainError {
  readonly code = 'BAD_USER_INPUT';
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
    this.details.field = field;
  }
}

export class ListExhaustedError extends DomainError {
  readonly code = 'LIST_EXHAUSTED';
  constructor(listId: string, listName?: string) {
    super(`Coupon list ${listName ? `"${listName}" (${listId})` : listId} has no codes left`);
    this.details.listId = listId;
  }
}

export class ListExpiredError extends DomainError {
  readonly code = 'LIST_EXPIRED';
  constructor(listId: string, listName?: string) {
    super(`Coupon list ${listName ? `"${listName}" (${listId})` : listId} has expired`);
    this.details.listId = listId;
  }
}

export class CampaignFinishedError extends DomainError {
  readonly code = 'CAMPAIGN_FINISHED';
  constructor(campaignId: string, reason?: string | null) {
    super(`Campaign ${campaignId} is finished${reason ? ` (${reason})` : ''}`);
    this.details.campaignId = campaignId;
    if (reason) this.details.finishReason = reason;
  }
}

export class ChannelNotIntegratedError extends DomainError {
  readonly code = 'CHANNEL_NOT_INTEGRATED';
  constructor(channel: string, variable: string) {
    super(`The ${channel} channel is not integrated: set ${variable} to the gateway's URL`);
    this.details.channel = channel;
  }
}

export class RateLimitedError extends DomainError {
  readonly code = 'RATE_LIMITED';
  constructor(retryAfterMs: number, message = `Too many requests for this API key; retry in ${Math.ceil(retryAfterMs)} ms`) {
    super(message);
    this.details.retryAfterMs = Math.ceil(retryAfterMs);
  }
}

/**
 * More claims wait in this process than it can answer in time: refused at once with the
 * contract's RATE_LIMITED (the client backs off and retries), never left to time out.
 */
export class ClaimsOverloadedError extends DomainError {
  readonly code = 'RATE_LIMITED';
  constructor(retryAfterMs: number) {
    super(`The service has more claims waiting than it can answer now; retry in ${Math.ceil(retryAfterMs)} ms`);
    this.details.retryAfterMs = Math.ceil(retryAfterMs);
    this.details.reason = 'OVERLOADED';
  }
}

export class AlreadyRedeemedError extends DomainError {
  readonly code = 'ALREADY_REDEEMED';
  constructor(code: string, redeemedAt: Date, redemptionId: string) {
    super(`The code ${JSON.stringify(code)} was already redeemed at ${redeemedAt.toISOString()}`);
    this.details.redeemedAt = redeemedAt.toISOString();
    this.details.redemptionId = redemptionId;
  }
}
