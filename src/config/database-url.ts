/** The parts of DATABASE_URL that mysql2 and TypeORM need (the first host, for one-host callers). */
export interface DatabaseLocation {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

export interface DatabaseHost {
  host: string;
  port: number;
}

/**
 * DATABASE_URL may name several hosts, `mysql://user:pass@h1:3306,h2:3306,h3/db` (the nodes of
 * one Galera cluster, or a primary and its failover). WHATWG URL refuses a comma list of
 * host:port, so the authority is split by hand and the rest parsed as a one-host URL.
 */
function splitUrl(url: string): { hosts: DatabaseHost[]; single: URL } {
  const match = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)(.*)$/i.exec(url);
  if (!match) throw new TypeError(`not a URL: ${url}`);
  const [, scheme, authority, rest] = match;
  const at = authority.lastIndexOf('@');
  const credentials = at >= 0 ? authority.slice(0, at + 1) : '';
  const hostList = authority.slice(at + 1);
  const hosts = hostList.split(',').map((entry): DatabaseHost => {
    const parsed = new URL(`${scheme}${entry}`);
    if (!parsed.hostname) throw new TypeError(`empty host in ${JSON.stringify(hostList)}`);
    return { host: parsed.hostname.replace(/^\[|\]$/g, ''), port: parsed.port ? Number(parsed.port) : 3306 };
  });
  const first = hostList.split(',')[0];
  return { hosts, single: new URL(`${scheme}${credentials}${first}${rest}`) };
}

export function parseDatabaseUrl(url: string): DatabaseLocation {
  const { hosts, single } = splitUrl(url);
  return {
    host: hosts[0].host,
    port: hosts[0].port,
    user: decodeURIComponent(single.username || 'root'),
    password: decodeURIComponent(single.password),
    database: decodeURIComponent(single.pathname.replace(/^\//, '')),
  };
}

/** Every host of DATABASE_URL, in the order given (the order of preference for writes). */
export function parseDatabaseHosts(url: string): DatabaseHost[] {
  return splitUrl(url).hosts;
}

/** The same URL with another database name (tests give each file its own database). */
export function withDatabaseName(url: string, database: string): string {
  const match = /^([a-z][a-z0-9+.-]*:\/\/[^/?#]*)(\/[^?#]*)?(.*)$/i.exec(url);
  if (!match) throw new TypeError(`not a URL: ${url}`);
  return `${match[1]}/${encodeURIComponent(database)}${match[3]}`;
}
