/** What REDIS_URL names: one server, a Sentinel group watching a primary, or a Redis Cluster. */
export type RedisTarget =
  | { kind: 'single'; url: string }
  | { kind: 'sentinel'; sentinels: Array<{ host: string; port: number }>; name: string; password?: string; db: number }
  | { kind: 'cluster'; nodes: Array<{ host: string; port: number }>; password?: string };

export const REDIS_URL_FORMS =
  'redis://[:password@]host:6379[/db], rediss://..., redis-sentinel://[:password@]h1:26379,h2:26379/<master name>[/db] or redis-cluster://[:password@]h1:7000,h2:7001';

function hostList(list: string, defaultPort: number): Array<{ host: string; port: number }> {
  return list.split(',').map((entry) => {
    const parsed = new URL(`redis://${entry}`);
    if (!parsed.hostname) throw new TypeError(`empty host in "${list}"`);
    return { host: parsed.hostname.replace(/^\[|\]$/g, ''), port: parsed.port ? Number(parsed.port) : defaultPort };
  });
}

/** Parses REDIS_URL; throws a TypeError naming what is wrong. */
export function parseRedisUrl(url: string): RedisTarget {
  const match = /^(redis|rediss|redis-sentinel|redis-cluster):\/\/(?:([^@/]*)@)?([^/?#]+)(\/[^?#]*)?$/i.exec(url);
  if (!match) throw new TypeError(`expected ${REDIS_URL_FORMS}`);
  const [, scheme, credentials, hosts, path = ''] = match;
  const password = credentials ? decodeURIComponent(credentials.replace(/^[^:]*:/, '')) || undefined : undefined;
  switch (scheme.toLowerCase()) {
    case 'redis-sentinel': {
      const [name, db, ...rest] = path.replace(/^\//, '').split('/');
      if (!name) throw new TypeError('redis-sentinel:// needs the master name as its path, e.g. redis-sentinel://h1:26379,h2:26379/mymaster');
      if (rest.length > 0 || (db !== undefined && db !== '' && !/^\d+$/.test(db))) throw new TypeError('redis-sentinel:// path is /<master name>[/db]');
      return { kind: 'sentinel', sentinels: hostList(hosts, 26379), name: decodeURIComponent(name), password, db: db ? Number(db) : 0 };
    }
    case 'redis-cluster':
      if (path !== '' && path !== '/') throw new TypeError('redis-cluster:// has no database path (a cluster has only db 0)');
      return { kind: 'cluster', nodes: hostList(hosts, 6379), password };
    default:
      if (hosts.includes(',')) throw new TypeError('several hosts need redis-sentinel:// or redis-cluster://');
      new URL(url);
      return { kind: 'single', url };
  }
}
