import { BadUserInputError } from './errors.js';

/**
 * Numeric row ids travel as GraphQL IDs (strings). Anything that is not a positive whole number
 * cannot name a row: callers treat it as "not found" or bad input.
 */
export function isRowId(value: string): boolean {
  return /^[1-9][0-9]{0,18}$/.test(value);
}

export function requireRowId(field: string, value: string): string {
  if (!isRowId(value)) throw new BadUserInputError(field, `expected an id like "42", got ${JSON.stringify(value)}`);
  return value;
}
