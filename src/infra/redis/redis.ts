import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../logging/logger.js';
import { parseRedisUrl } from '../../config/redis-url.js';

/**
 * A Redis connection for the given REDIS_URL: one server, the primary a Sentinel group points at
 * (found again after a failover; `failoverDetector` drops the old primary the moment the
 * Sentinels switch, instead of writing to it until it turns replica), or a Redis Cluster.
 * `options` apply to every server connection (e.g. BullMQ's `maxRetriesPerRequest: null`).
 * A Cluster answers the same commands as one server, so callers see one type.
 */
export function createRedis(url: string, logger: Logger, name: string, options: RedisOptions = {}): Redis {
  const target = parseRedisUrl(url);
  const common: RedisOptions = { connectionName: `coupon-lists:${name}`, lazyConnect: false, enableReadyCheck: true, ...options };
  let redis: Redis;
  if (target.kind === 'sentinel') {
    redis = new Redis({ ...common, sentinels: target.sentinels, name: target.name, password: target.password, db: target.db, failoverDetector: true });
  } else if (target.kind === 'cluster') {
    const { maxRetriesPerRequest, enableReadyCheck, ...redisOptions } = common;
    const cluster = new Cluster(target.nodes, {
      redisOptions: { ...redisOptions, password: target.password, maxRetriesPerRequest },
      enableReadyCheck,
      maxRedirections: 32,
      // Moved slots and a failed-over primary: ask the cluster again rather than failing the command.
      retryDelayOnFailover: 200,
      retryDelayOnClusterDown: 300,
    });
    redis = cluster as unknown as Redis;
  } else {
    redis = new Redis(target.url, common);
  }
  // An unhandled 'error' event would crash the process; ioredis reconnects by itself.
  redis.on('error', (error: Error) => logger.warn({ err: error, redis: name }, 'redis connection error'));
  return redis;
}

/**
 * Whether Redis takes writes now. A replica answers PING too, so this asks ROLE: only a primary
 * is writable. A Cluster is ready while it says cluster_state:ok.
 */
export async function redisWritable(redis: Redis): Promise<string> {
  if ((redis as unknown as { isCluster?: boolean }).isCluster) {
    const info = String(await (redis as unknown as Cluster).cluster('INFO'));
    return /cluster_state:ok/.test(info) ? 'ok' : 'Redis Cluster state is not ok';
  }
  const role = (await redis.call('ROLE')) as unknown[];
  return role[0] === 'master' ? 'ok' : `Redis answers as ${String(role[0])}, not a writable primary`;
}
