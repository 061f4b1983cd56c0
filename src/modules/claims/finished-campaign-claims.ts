import type { ApolloServerPlugin, GraphQLRequestContext, GraphQLRequestListener, GraphQLResponse } from '@apollo/server';
import { HeaderMap } from '@apollo/server';
import { getLocation, Kind, type DocumentNode, type OperationDefinitionNode, type SourceLocation } from 'graphql';
import type { AppContext } from '../../app-context.js';
import { DomainError } from '../../common/errors.js';
import { domainErrorJson } from '../../infra/graphql/format-error.js';
import { Allow } from '../auth/api-key-role.js';
import type { GraphQLContext } from '../graphql-context.js';
import { ClaimService, type ClaimRequest } from './claim.service.js';
import type { CouponAssignment } from './coupon-assignment.entity.js';
import { FinishedCampaigns } from './finished-campaigns.js';

/** A claimCoupon operation this plugin may answer: its one field, and the variable that holds the whole input. */
interface ClaimOperation {
  responseKey: string;
  /** As graphql-js gives them: none when the document carries no source positions. */
  locations: SourceLocation[] | undefined;
  variable: string;
}

const INPUT_FIELDS = new Set(['campaignId', 'userId', 'externalId', 'listId']);

/** Answers taken before execution, for the resolver to return (a reused assignment, or an unexpected failure). */
const earlierAnswers = new WeakMap<GraphQLContext, Promise<CouponAssignment>>();

/** The answer this request's claimCoupon already has, if the plugin took it before execution. */
export function takeEarlierClaimAnswer(context: GraphQLContext): Promise<CouponAssignment> | undefined {
  const answer = earlierAnswers.get(context);
  earlierAnswers.delete(context);
  return answer;
}

/**
 * The operation's shape when it is exactly `mutation ($v: ClaimCouponInput!) { [alias:]
 * claimCoupon(input: $v) { ... } }`, without directives, fragments at the root or a default:
 * the form widget backends send. Anything else is left to execution.
 */
function claimOperationOf(document: DocumentNode, operation: OperationDefinitionNode): ClaimOperation | null {
  if (operation.operation !== 'mutation' || operation.directives?.length || operation.selectionSet.selections.length !== 1) return null;
  const field = operation.selectionSet.selections[0];
  if (field.kind !== Kind.FIELD || field.name.value !== 'claimCoupon' || field.directives?.length) return null;
  const argument = field.arguments?.length === 1 ? field.arguments[0] : null;
  if (!argument || argument.name.value !== 'input' || argument.value.kind !== Kind.VARIABLE) return null;
  const name = argument.value.name.value;
  const definition = operation.variableDefinitions?.find((candidate) => candidate.variable.name.value === name);
  if (
    !definition ||
    definition.defaultValue ||
    definition.directives?.length ||
    definition.type.kind !== Kind.NON_NULL_TYPE ||
    definition.type.type.kind !== Kind.NAMED_TYPE ||
    definition.type.type.name.value !== 'ClaimCouponInput'
  ) {
    return null;
  }
  const source = document.loc?.source;
  const start = field.loc?.start;
  return { responseKey: field.alias?.value ?? 'claimCoupon', locations: source && start !== undefined ? [getLocation(source, start)] : undefined, variable: name };
}

/**
 * The variable's value as a claim, when GraphQL would coerce it to exactly these strings: an
 * object of the input's fields only, ids and user id as strings, the optional ones also null or
 * absent. Anything else (numbers for ids, unknown fields) is left to GraphQL's own coercion.
 */
function plainClaimInput(value: unknown): ClaimRequest | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const input = value as Record<string, unknown>;
  for (const key in input) if (!INPUT_FIELDS.has(key)) return null;
  const { campaignId, userId, externalId, listId } = input;
  if (typeof campaignId !== 'string' || typeof userId !== 'string') return null;
  if (externalId !== undefined && externalId !== null && typeof externalId !== 'string') return null;
  if (listId !== undefined && listId !== null && typeof listId !== 'string') return null;
  return { campaignId, userId, externalId: externalId ?? null, listId: listId ?? null };
}

/**
 * Claims in a campaign this process knows has finished are mostly refused, and in a flash sale
 * they are most of the traffic. This plugin answers them before execution: the claim service
 * decides as it always does (the key's role and scopes, its rate limit, the input, the user's
 * claim window), and a refusal is written as execution would write it (the same message,
 * locations, path and extensions, `data: null`) without the resolver machinery, which costs
 * more than the refusal itself. A claim that gets an assignment (the user's earlier one, inside
 * the window) goes on to execution, which returns that answer instead of claiming again.
 */
export function finishedCampaignClaims(app: AppContext): ApolloServerPlugin<GraphQLContext> {
  const finished = app.get(FinishedCampaigns);
  const claims = app.get(ClaimService);
  const operations = new WeakMap<OperationDefinitionNode, ClaimOperation | null>();
  const listener: GraphQLRequestListener<GraphQLContext> = {
    async responseForOperation(request: GraphQLRequestContext<GraphQLContext>): Promise<GraphQLResponse | null> {
      const { operation, document, contextValue } = request;
      const caller = contextValue.caller;
      if (!operation || !document || !caller || !(Allow.CLAIM as readonly string[]).includes(caller.role)) return null;
      let claimOperation = operations.get(operation);
      if (claimOperation === undefined) operations.set(operation, (claimOperation = claimOperationOf(document, operation)));
      if (!claimOperation) return null;
      const input = plainClaimInput(request.request.variables?.[claimOperation.variable]);
      if (!input || !finished.isFinished(input.campaignId)) return null;
      const answer = claims.claimAs(caller, input);
      try {
        await answer;
      } catch (error) {
        if (error instanceof DomainError) {
          const singleResult = { errors: [domainErrorJson(error, claimOperation.locations, [claimOperation.responseKey])], data: null };
          return { http: { status: undefined, headers: new HeaderMap() }, body: { kind: 'single', singleResult } };
        }
      }
      // An assignment, or an unexpected failure: execution's resolver returns it (and formats the failure).
      earlierAnswers.set(contextValue, answer);
      return null;
    },
  };
  return {
    async requestDidStart() {
      return listener;
    },
  };
}
