import pino, { type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stdout; the level comes from LOG_LEVEL. */
export function createLogger(level: string, base: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base: { service: 'coupon-lists', pid: process.pid, ...base },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
