import { BadUserInputError } from './errors.js';

/** Small input checks shared by the services; each throws BAD_USER_INPUT naming the field. */

export function requireText(field: string, value: string, maxLength: number): string {
  const trimmed = value.trim();
  if (!trimmed) throw new BadUserInputError(field, 'must not be empty');
  if ([...trimmed].length > maxLength) throw new BadUserInputError(field, `must be at most ${maxLength} characters`);
  return trimmed;
}

export function requireNonNegativeInt(field: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) throw new BadUserInputError(field, `must be a whole number >= 0, got ${value}`);
  return value;
}

export function requirePositiveInt(field: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new BadUserInputError(field, `must be a whole number >= 1, got ${value}`);
  return value;
}

const EMAIL = /^[^\s@<>(),;:"\[\]]+@[^\s@<>(),;:"\[\]]+\.[^\s@<>(),;:"\[\]]{2,}$/;

export function requireEmails(field: string, values: string[], max = 50): string[] {
  const result: string[] = [];
  values.forEach((value, index) => {
    const email = value.trim();
    if (!EMAIL.test(email) || email.length > 254) {
      throw new BadUserInputError(`${field}[${index}]`, `${JSON.stringify(value)} is not an e-mail address`);
    }
    if (!result.some((known) => known.toLowerCase() === email.toLowerCase())) result.push(email);
  });
  if (result.length > max) throw new BadUserInputError(field, `at most ${max} addresses are allowed`);
  return result;
}

export function requireDate(field: string, value: Date): Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw new BadUserInputError(field, 'is not a valid date-time');
  return value;
}
