import { z } from 'zod';
import { parseDatabaseUrl } from './database-url.js';
import { parseRedisUrl, REDIS_URL_FORMS } from './redis-url.js';

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

const parses = (parse: () => unknown) => {
  try {
    parse();
    return true;
  } catch {
    return false;
  }
};

const positiveInt = (what: string) =>
  z.coerce.number({ message: `expected ${what}` }).int({ message: `expected ${what}` }).positive({ message: `expected ${what}` });

const emailAddress = z.string().regex(/^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$|^.*<[^\s@<>]+@[^\s@<>]+>$/, {
  message: 'expected an e-mail address like alerts@example.com or "Coupons <alerts@example.com>"',
});

const optionalNonEmpty = <T extends z.ZodTypeAny>(schema: T) =>
  z.preprocess((value) => (value === '' ? undefined : value), schema.optional());

/** The cost that the largest page of every paged field, with its usual fields, stays under (see SECURITY.md). */
export const DEFAULT_GRAPHQL_MAX_COST = 20_000;

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/** Without ADMIN_API_KEY, outside production, the well-known development key is accepted. */
export const acceptsDevelopmentKey = (config: { NODE_ENV: string; ADMIN_API_KEY?: string }) =>
  !config.ADMIN_API_KEY && config.NODE_ENV !== 'production';

const configSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test'], { message: 'expected development, production or test' }).default('development'),
    PORT: z.coerce.number({ message: 'expected a port number 0-65535' }).int().min(0).max(65535, { message: 'expected a port number 0-65535' }).default(4000),
    // One host or several (the nodes of a Galera cluster, in order of preference).
    DATABASE_URL: z
      .string()
      .refine((value) => /^(mysql|mariadb):\/\//i.test(value) && parses(() => parseDatabaseUrl(value)), {
        message: 'expected a URL like mysql://user:password@host:3306/database or mysql://user@h1:3306,h2:3306,h3:3306/database',
      })
      .refine((value) => !parses(() => parseDatabaseUrl(value)) || parseDatabaseUrl(value).database.length > 0, { message: 'expected a database name in the URL path' })
      .default(DEFAULT_DATABASE_URL),
    REDIS_URL: z.string().refine((value) => parses(() => parseRedisUrl(value)), { message: `expected ${REDIS_URL_FORMS}` }).default(DEFAULT_REDIS_URL),
    ROLE: z.enum(['api', 'worker', 'all'], { message: 'expected api, worker or all' }).default('all'),
    ADMIN_API_KEY: optionalNonEmpty(z.string().min(16, { message: 'expected at least 16 characters' })),
    CLAIM_WINDOW_SECONDS: positiveInt('a whole number of seconds > 0').default(86400),
    CLAIM_RATE_LIMIT: z.coerce.number({ message: 'expected claims per second per key (0 = off)' }).int().min(0).default(0),
    CLAIM_QUEUE_LIMIT: positiveInt('a number of claims > 0').default(2000),
    CLAIM_QUEUE_MAX_WAIT_MS: positiveInt('a number of milliseconds > 0').default(2000),
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
    WEBHOOK_RETENTION_DAYS: z.coerce.number({ message: 'expected a whole number of days >= 0' }).int('expected a whole number of days >= 0').min(0, 'expected a whole number of days >= 0').default(30),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      message: 'expected fatal, error, warn, info, debug, trace or silent',
    }).default('info'),
    // A Redis Cluster needs a {hash tag} (e.g. {coupons}) so that each queue's keys share one slot.
    QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9:_{}-]+$/, { message: 'expected letters, digits, ":", "_", "-" or a {hash tag}' }).default('coupons'),
    DB_POOL_SIZE: positiveInt('a number of connections > 0').default(20),
    SHUTDOWN_TIMEOUT_SECONDS: positiveInt('a whole number of seconds > 0').default(25),
    // The network edge (see SECURITY.md).
    HOST: optionalNonEmpty(z.string().regex(/^[A-Za-z0-9.:[\]-]+$/, { message: 'expected an address like 127.0.0.1 or 0.0.0.0' })),
    TRUST_PROXY: optionalNonEmpty(z.string().regex(/^[A-Za-z0-9.:/, _-]+$/, { message: 'expected true, a hop count, or addresses/subnets like loopback, 10.0.0.0/8' })),
    GRAPHQL_MAX_DEPTH: positiveInt('a depth > 0').default(12),
    GRAPHQL_MAX_ALIASES: positiveInt('a number of aliases > 0').default(30),
    GRAPHQL_MAX_COST: positiveInt('a cost > 0').default(DEFAULT_GRAPHQL_MAX_COST),
    GRAPHQL_MAX_TOKENS: positiveInt('a number of tokens > 0').default(5000),
    METRICS_TOKEN: optionalNonEmpty(z.string().min(16, { message: 'expected at least 16 characters' })),
    MAX_CONNECTIONS: positiveInt('a number of connections > 0').default(10_000),
    ACCEPT_HANDLES: z.coerce.number({ message: 'expected a number of handles >= 0' }).int('expected a number of handles >= 0').min(0, 'expected a number of handles >= 0').max(1024, 'expected at most 1024 handles').default(128),
    // 0: V8's own heuristic, which lets the old generation grow to up to 4x what the last full collection kept.
    HEAP_GROWING_PERCENT: z.coerce.number({ message: 'expected a percentage from 0 to 400' }).int('expected a percentage from 0 to 400').min(0, 'expected a percentage from 0 to 400').max(400, 'expected a percentage from 0 to 400').default(150),
    HTTP_HEADERS_TIMEOUT_MS: positiveInt('a number of milliseconds > 0').default(10_000),
    HTTP_REQUEST_TIMEOUT_MS: positiveInt('a number of milliseconds > 0').default(30_000),
    HTTP_KEEP_ALIVE_TIMEOUT_MS: positiveInt('a number of milliseconds > 0').default(5_000),
    UPLOAD_TIMEOUT_SECONDS: positiveInt('a whole number of seconds > 0').default(3600),
    WS_MAX_PAYLOAD_BYTES: positiveInt('a number of bytes > 0').default(256 * 1024),
    WS_CONNECTION_INIT_TIMEOUT_MS: positiveInt('a number of milliseconds > 0').default(3_000),
    WS_MAX_SUBSCRIPTIONS_PER_SOCKET: positiveInt('a number of subscriptions > 0').default(50),
    WS_MAX_SOCKETS_PER_KEY: positiveInt('a number of sockets > 0').default(100),
    API_KEY_CACHE_SIZE: positiveInt('a number of keys > 0').default(10_000),
  })
  .superRefine((config, ctx) => {
    if (/^redis-cluster:/i.test(config.REDIS_URL) && !/\{[^{}]+\}/.test(config.QUEUE_PREFIX)) {
      ctx.addIssue({ code: 'custom', path: ['QUEUE_PREFIX'], message: 'a Redis Cluster needs a hash-tagged prefix like {coupons} (otherwise BullMQ fails with CROSSSLOT)' });
    }
    if (config.NODE_ENV === 'production' && !config.ADMIN_API_KEY) {
      ctx.addIssue({ code: 'custom', path: ['ADMIN_API_KEY'], message: 'required when NODE_ENV=production' });
    }
    if (acceptsDevelopmentKey(config) && config.HOST !== undefined && !LOOPBACK.test(config.HOST)) {
      ctx.addIssue({ code: 'custom', path: ['HOST'], message: 'the development admin key is accepted (ADMIN_API_KEY is unset): set ADMIN_API_KEY before listening beyond 127.0.0.1' });
    }
  });

/** express's `trust proxy` value from TRUST_PROXY: true/false, a hop count, or addresses. */
export function trustProxySetting(value: string | undefined): boolean | number | string {
  if (value === undefined || value === 'false') return false;
  if (value === 'true') return true;
  return /^\d+$/.test(value) ? Number(value) : value;
}

export type AppConfig = Omit<z.infer<typeof configSchema>, 'HOST'> & {
  /** The listen address: HOST, else 127.0.0.1 while the development key is accepted, else 0.0.0.0. */
  HOST: string;
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
    HOST: parsed.data.HOST ?? (acceptsDevelopmentKey(parsed.data) ? '127.0.0.1' : '0.0.0.0'),
    databaseUrlIsDefault: !env.DATABASE_URL || env.DATABASE_URL === DEFAULT_DATABASE_URL,
    redisUrlIsDefault: !env.REDIS_URL || env.REDIS_URL === DEFAULT_REDIS_URL,
  };
}
