import { z } from 'zod';

/**
 * The service's configuration, read from the environment once at start-up.
 * Every variable is validated together so that one message names every bad value.
 */

export const DEFAULT_DATABASE_URL = 'mysql://root@127.0.0.1:3306/coupons';
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

const urlWithProtocol = (protocols: string[], example: string) =>
  z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { message: `expected a URL like ${example}` },
  );

const positiveInt = (what: string) =>
  z.coerce.number({ message: `expected ${what}` }).int({ message: `expected ${what}` }).positive({ message: `expected ${what}` });

const emailAddress = z.string().regex(/^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$|^.*<[^\s@<>]+@[^\s@<>]+>$/, {
  message: 'expected an e-mail address like alerts@example.com or "Coupons <alerts@example.com>"',
});

const optionalNonEmpty = <T extends z.ZodTypeAny>(schema: T) =>
  z.preprocess((value) => (value === '' ? undefined : value), schema.optional());

const configSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test'], { message: 'expected development, production or test' }).default('development'),
    PORT: z.coerce.number({ message: 'expected a port number 0-65535' }).int().min(0).max(65535, { message: 'expected a port number 0-65535' }).default(4000),
    DATABASE_URL: urlWithProtocol(['mysql:', 'mariadb:'], 'mysql://user:password@host:3306/database')
      .refine((value) => new URL(value).pathname.replace(/^\//, '').length > 0, { message: 'expected a database name in the URL path' })
      .default(DEFAULT_DATABASE_URL),
    REDIS_URL: urlWithProtocol(['redis:', 'rediss:'], 'redis://host:6379').default(DEFAULT_REDIS_URL),
    ROLE: z.enum(['api', 'worker', 'all'], { message: 'expected api, worker or all' }).default('all'),
    ADMIN_API_KEY: optionalNonEmpty(z.string().min(16, { message: 'expected at least 16 characters' })),
    CLAIM_WINDOW_SECONDS: positiveInt('a whole number of seconds > 0').default(86400),
    CLAIM_RATE_LIMIT: z.coerce.number({ message: 'expected claims per second per key (0 = off)' }).int().min(0).default(0),
    SMTP_URL: optionalNonEmpty(urlWithProtocol(['smtp:', 'smtps:'], 'smtp://127.0.0.1:2525')),
    ALERT_FROM: optionalNonEmpty(emailAddress),
    ALERT_MAIL_ATTEMPTS: positiveInt('a number of attempts >= 1').default(8),
    ALERT_MAIL_RETRY_BASE_MS: positiveInt('a number of milliseconds > 0').default(5000),
    LOW_STOCK_SWEEP_SECONDS: positiveInt('a whole number of seconds > 0').default(60),
    EXPIRY_SWEEP_SECONDS: positiveInt('a whole number of seconds > 0').default(60),
    SMS_WEBHOOK_URL: optionalNonEmpty(urlWithProtocol(['http:', 'https:'], 'https://sms-gateway.example/send')),
    PUSH_WEBHOOK_URL: optionalNonEmpty(urlWithProtocol(['http:', 'https:'], 'https://push-gateway.example/send')),
    DELIVERY_TIMEOUT_MS: positiveInt('a number of milliseconds > 0').default(5000),
    DELIVERY_MAX_ATTEMPTS: positiveInt('a number of attempts >= 1').default(5),
    DELIVERY_RETRY_BASE_MS: positiveInt('a number of milliseconds > 0').default(2000),
    DELIVERY_CONCURRENCY: positiveInt('a number of parallel sends > 0').default(200),
    DELIVERY_SWEEP_INTERVAL_SECONDS: positiveInt('a whole number of seconds > 0').default(60),
    DISTRIBUTION_CLAIM_CONCURRENCY: positiveInt('a number of parallel claims > 0').default(64),
    DISTRIBUTION_CLAIMS_PER_SECOND: z.coerce.number({ message: 'expected claims per second per worker process (0 = no limit)' }).int().min(0).default(4000),
    DISTRIBUTION_BUSY_CLAIMS_PER_SECOND: positiveInt('claims per second per worker process while widgets are claiming').default(500),
    EXPORT_DIR: z.string().min(1).default('./data/exports'),
    EXPORT_LINK_TTL_SECONDS: positiveInt('a whole number of seconds > 0').default(3600),
    EXPORT_RETENTION_HOURS: positiveInt('a whole number of hours > 0').default(72),
    PUBLIC_URL: optionalNonEmpty(urlWithProtocol(['http:', 'https:'], 'https://coupons.example.com')),
    MAX_UPLOAD_BYTES: positiveInt('a number of bytes > 0').default(1024 * 1024 * 1024),
    // An import whose worker died is taken over after about this long (BullMQ lock and stall check).
    UPLOAD_RECOVERY_SECONDS: positiveInt('a whole number of seconds > 0').default(30),
    UPLOAD_WORKER_CONCURRENCY: positiveInt('a number of imports run at once per worker process > 0').default(2),
    // Webhooks
    WEBHOOK_ALLOW_PRIVATE_URLS: z.enum(['true', 'false'], { message: 'expected true or false' }).default('false').transform((value) => value === 'true'),
    WEBHOOK_TIMEOUT_MS: positiveInt('a number of milliseconds > 0').default(10_000),
    WEBHOOK_RETRY_SCHEDULE_SECONDS: z
      .string()
      .regex(/^\s*\d+(\.\d+)?(\s*,\s*\d+(\.\d+)?)*\s*$/, { message: 'expected comma-separated delays in seconds, e.g. 5,60,600' })
      .default('5,30,120,600,1800,3600,7200,14400,28800,28800,28800')
      .transform((value) => value.split(',').map((part) => Number(part.trim()))),
    WEBHOOK_DISABLE_AFTER_SECONDS: positiveInt('a whole number of seconds > 0').default(86_400),
    WEBHOOK_ENDPOINT_CONCURRENCY: positiveInt('a number of parallel requests per endpoint > 0').default(128),
    WEBHOOK_SWEEP_INTERVAL_MS: positiveInt('a number of milliseconds > 0').default(1000),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      message: 'expected fatal, error, warn, info, debug, trace or silent',
    }).default('info'),
    QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9:_-]+$/, { message: 'expected letters, digits, ":", "_" or "-"' }).default('coupons'),
    DB_POOL_SIZE: positiveInt('a number of connections > 0').default(20),
    SHUTDOWN_TIMEOUT_SECONDS: positiveInt('a whole number of seconds > 0').default(25),
  })
  .superRefine((config, ctx) => {
    if (config.NODE_ENV === 'production' && !config.ADMIN_API_KEY) {
      ctx.addIssue({ code: 'custom', path: ['ADMIN_API_KEY'], message: 'required when NODE_ENV=production' });
    }
  });

export type AppConfig = z.infer<typeof configSchema> & {
  /** True when DATABASE_URL / REDIS_URL were left at their defaults (local servers may be started). */
  databaseUrlIsDefault: boolean;
  redisUrlIsDefault: boolean;
};

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Validates the environment; throws one ConfigError naming every offending variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? 'environment');
      const shown = name in env && !/KEY|PASSWORD|SECRET/.test(name) ? ` (got "${env[name]}")` : '';
      return `${name}: ${issue.message}${shown}`;
    });
    throw new ConfigError(problems);
  }
  return {
    ...parsed.data,
    databaseUrlIsDefault: !env.DATABASE_URL || env.DATABASE_URL === DEFAULT_DATABASE_URL,
    redisUrlIsDefault: !env.REDIS_URL || env.REDIS_URL === DEFAULT_REDIS_URL,
  };
}
