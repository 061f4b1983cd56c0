import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** Log fields that may hold personal data, codes or secrets: written as "[redacted]". */
const SENSITIVE_FIELDS = ['userId', 'externalId', 'phone', 'phoneNumber', 'email', 'to', 'recipients', 'alertEmails', 'code', 'codes', 'secret', 'authorization', 'parameters', 'variables'];

const EMAIL = /[^\s@'"<>(),;:]+@[^\s@'"<>(),;:]+\.[A-Za-z]{2,}/g;
const PHONE = /\+?\d[\d ()-]{6,}\d/g;
/** SQL error messages quote the offending value ("Duplicate entry 'CODE-1' for key …"). */
const QUOTED = /'[^']*'/g;
const MAX_CAUSES = 3;

/** Error text without values: quoted values, e-mail addresses and phone numbers are replaced. */
export function scrubErrorText(text: string): string {
  return text.replace(QUOTED, "'…'").replace(EMAIL, '[email]').replace(PHONE, '[number]');
}

/**
 * Errors as logged: type, scrubbed message and stack, and the driver's codes. Never the
 * statement, its parameters or any other property a library hung on the error (TypeORM's
 * QueryFailedError carries the SQL with every value).
 */
export function serializeError(error: unknown, depth = 0): Record<string, unknown> | unknown {
  if (!(error instanceof Error)) return typeof error === 'string' ? scrubErrorText(error) : error;
  const { code, errno, sqlState } = error as { code?: unknown; errno?: unknown; sqlState?: unknown };
  const cause = (error as { cause?: unknown }).cause;
  return {
    type: error.constructor?.name ?? error.name,
    message: scrubErrorText(error.message),
    ...(code === undefined ? {} : { code }),
    ...(errno === undefined ? {} : { errno }),
    ...(sqlState === undefined ? {} : { sqlState }),
    ...(error.stack ? { stack: scrubErrorText(error.stack) } : {}),
    ...(cause !== undefined && depth < MAX_CAUSES ? { cause: serializeError(cause, depth + 1) } : {}),
  };
}

/** Structured JSON logs on stdout (or `destination`); the level comes from LOG_LEVEL. */
export function createLogger(level: string, base: Record<string, unknown> = {}, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'coupon-lists', pid: process.pid, ...base },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
    serializers: { err: serializeError, error: serializeError },
    redact: { paths: [...SENSITIVE_FIELDS, ...SENSITIVE_FIELDS.map((field) => `*.${field}`)], censor: '[redacted]' },
  };
  return destination ? pino(options, destination) : pino(options);
}
