import type { AuthChecker } from 'type-graphql';
import { ForbiddenError, UnauthenticatedError } from '../../common/errors.js';
import type { GraphQLContext } from '../graphql-context.js';
import type { ApiKeyRole } from './api-key-role.js';

/** type-graphql's @Authorized(...roles) check: no caller → UNAUTHENTICATED, wrong role → FORBIDDEN. */
export const authChecker: AuthChecker<GraphQLContext, ApiKeyRole> = ({ context, info }, roles) => {
  const caller = context.caller;
  if (!caller) throw new UnauthenticatedError();
  if (roles.length > 0 && !roles.includes(caller.role)) {
    throw new ForbiddenError(
      `${info.parentType.name}.${info.fieldName} needs a key with role ${roles.join(' or ')}; this key has role ${caller.role}`,
    );
  }
  return true;
};
