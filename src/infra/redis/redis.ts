import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../logging/logger.js';

/**
 * A Redis connection for the given REDIS_URL. `forBullMq` sets what BullMQ workers require
 * (no per-request retry limit, which otherwise throws inside blocking commands).
 */
export function createRedis(url: string, logger: Logger, name: string, options: RedisOptions = {}): Redis {
  const redis = new Redis(url, {
    connectionName: `coupon-lists:${name}`,
    lazyConnect: false,
    enableReadyCheck: true,
    ...options,
  });
  // An unhandled 'error' event would crash the process; ioredis reconnects by itself.
  redis.on('error', (error) => logger.warn({ err: error, redis: name }, 'redis connection error'));
  return redis;
}
