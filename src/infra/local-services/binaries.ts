import { accessSync, constants, existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import type { LocalServicesLogger } from './services-logger.js';
import { run } from './processes.js';

export interface MariadbBinaries {
  server: string;
  installDb: string;
  client: string | null;
  basedir: string;
  env: NodeJS.ProcessEnv;
  origin: string;
}

export interface RedisBinaries {
  server: string;
  env: NodeJS.ProcessEnv;
  origin: string;
}

/**
 * Debian's packages hold everything a fresh machine lacks: the servers, the client, and the
 * libraries mariadbd (liburing, libaio) and redis-server (liblzf, jemalloc) link against.
 */
const PACKAGES = ['mariadb-server-core', 'mariadb-client-core', 'redis-server', 'redis-tools', 'libaio1', 'liburing2', 'libjemalloc2', 'liblzf1'];
/** What a local Galera cluster needs beyond that: the provider, the SST scripts (in mariadb-server, unpacked only: its package scripts never run) and rsync. */
const CLUSTER_PACKAGES = [...PACKAGES, 'galera-4', 'mariadb-server', 'rsync'];
const LIB_DIR = 'usr/lib/x86_64-linux-gnu';
const SYSTEM_DIRS = ['/usr/sbin', '/usr/bin', '/usr/local/bin', '/usr/local/sbin'];

export const CANNOT_START_HELP =
  'Ways that work: install MariaDB and Redis and leave DATABASE_URL and REDIS_URL at their defaults; ' +
  'run `docker compose up`; or set DATABASE_URL and REDIS_URL to running servers.';

/** Finds the binaries once per call of ensureLocalServices; the download happens at most once. */
export class BinaryProvider {
  private root: Promise<string> | null = null;

  constructor(
    private readonly stateDir: string,
    private readonly logger: LocalServicesLogger,
  ) {}

  async mariadb(): Promise<MariadbBinaries> {
    const server = findExecutable(['mariadbd', 'mysqld']);
    const installDb = findExecutable(['mariadb-install-db', 'mysql_install_db']);
    if (server && installDb) {
      const client = findExecutable(['mariadb', 'mysql']);
      return { server, installDb, client, basedir: dirname(dirname(server)), env: process.env, origin: 'installed' };
    }
    const root = await this.downloadedRoot();
    return {
      server: join(root, 'usr/sbin/mariadbd'),
      installDb: join(root, 'usr/bin/mariadb-install-db'),
      client: join(root, 'usr/bin/mariadb'),
      basedir: join(root, 'usr'),
      env: rootEnv(root),
      origin: `Debian packages unpacked in ${root}`,
    };
  }

  async redis(): Promise<RedisBinaries> {
    const server = findExecutable(['redis-server']);
    if (server) return { server, env: process.env, origin: 'installed' };
    const root = await this.downloadedRoot();
    return { server: join(root, 'usr/bin/redis-server'), env: rootEnv(root), origin: `Debian packages unpacked in ${root}` };
  }

  private downloadedRoot(): Promise<string> {
    this.root ??= provisionRoot(this.stateDir, this.logger);
    return this.root;
  }
}

export interface ClusterBinaries {
  mariadbd: string;
  installDb: string;
  provider: string;
  redisServer: string;
  redisCli: string;
  /** PATH holds the SST scripts and rsync; LD_LIBRARY_PATH the unpacked libraries. */
  env: NodeJS.ProcessEnv;
  basedir: string;
  root: string;
}

/** Galera, rsync and Redis for a local cluster, always from Debian's packages in `<stateDir>/cluster-root`. */
export async function clusterBinaries(stateDir: string, logger: LocalServicesLogger): Promise<ClusterBinaries> {
  const root = await provisionRoot(stateDir, logger, 'cluster-root', CLUSTER_PACKAGES);
  const env = rootEnv(root);
  env.PATH = [join(root, 'usr/bin'), join(root, 'usr/sbin'), process.env.PATH ?? ''].join(delimiter);
  return {
    mariadbd: join(root, 'usr/sbin/mariadbd'),
    installDb: join(root, 'usr/bin/mariadb-install-db'),
    provider: join(root, 'usr/lib/galera/libgalera_smm.so'),
    redisServer: join(root, 'usr/bin/redis-server'),
    redisCli: join(root, 'usr/bin/redis-cli'),
    env,
    basedir: join(root, 'usr'),
    root,
  };
}

/** Executable path of the first of `names` on PATH or in the usual system folders. */
export function findExecutable(names: string[]): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...SYSTEM_DIRS];
  for (const name of names) {
    for (const dir of dirs) {
      const candidate = join(dir, name);
      if (isExecutable(candidate)) return candidate;
    }
  }
  return null;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The unpacked libraries come first; the system ones stay reachable. */
function rootEnv(root: string): NodeJS.ProcessEnv {
  const current = process.env.LD_LIBRARY_PATH;
  return { ...process.env, LD_LIBRARY_PATH: [join(root, LIB_DIR), ...(current ? [current] : [])].join(':') };
}

/**
 * `<stateDir>/root`, unpacked from Debian packages on first use. Unpacking happens in a staging
 * folder that is renamed when complete, so an interrupted run never leaves a half root behind.
 */
async function provisionRoot(stateDir: string, logger: LocalServicesLogger, name = 'root', packages = PACKAGES): Promise<string> {
  const root = join(stateDir, name);
  if (existsSync(join(root, '.complete'))) return root;
  assertCanDownload();
  logger.info(`Downloading ${packages.join(', ')} (Debian packages, no root needed) into ${root}`);
  const staging = `${root}.partial`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  const apt = new Apt(stateDir, logger);
  await apt.downloadAndUnpack(packages, staging);
  await addMissingLibraries(apt, staging);
  rmSync(root, { recursive: true, force: true });
  renameSync(staging, root);
  writeFileSync(join(root, '.complete'), `${packages.join(' ')}\n`);
  return root;
}

function assertCanDownload(): void {
  const where = `${process.platform}/${process.arch}`;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`Cannot start a local MariaDB/Redis on ${where}: none is installed, and the download path needs linux x64 with apt-get and dpkg-deb. ${CANNOT_START_HELP}`);
  }
  const missing = ['apt-get', 'dpkg-deb'].filter((tool) => !findExecutable([tool]));
  if (missing.length) {
    throw new Error(`Cannot start a local MariaDB/Redis: none is installed, and ${missing.join(' and ')} is missing to download them. ${CANNOT_START_HELP}`);
  }
}

/**
 * `apt-get download` needs no root. When the machine has no (or outdated) package lists, apt can
 * still update lists into a private folder without root, given its own state, cache and no locking.
 */
class Apt {
  private options: string[] = [];
  private readonly debs: string;

  constructor(
    private readonly stateDir: string,
    private readonly logger: LocalServicesLogger,
  ) {
    this.debs = join(stateDir, 'debs');
  }

  async downloadAndUnpack(packages: string[], into: string): Promise<void> {
    mkdirSync(this.debs, { recursive: true });
    await this.download(packages);
    const debs = readdirSync(this.debs).filter((f) => f.endsWith('.deb') && packages.some((p) => f.startsWith(`${p}_`)));
    for (const deb of debs) {
      const unpacked = await run('dpkg-deb', ['-x', join(this.debs, deb), into]);
      if (!unpacked.ok) throw new Error(`dpkg-deb -x ${deb} failed: ${unpacked.output}`);
    }
  }

  private async download(packages: string[]): Promise<void> {
    const first = await run('apt-get', [...this.options, 'download', ...packages], { cwd: this.debs });
    if (first.ok) return;
    if (this.options.length === 0) {
      await this.usePrivateLists();
      const second = await run('apt-get', [...this.options, 'download', ...packages], { cwd: this.debs });
      if (second.ok) return;
      throw new Error(`apt-get download ${packages.join(' ')} failed, with the system's package lists:\n${first.output}\nand with fresh ones:\n${second.output}\n${CANNOT_START_HELP}`);
    }
    throw new Error(`apt-get download ${packages.join(' ')} failed:\n${first.output}\n${CANNOT_START_HELP}`);
  }

  private async usePrivateLists(): Promise<void> {
    const dir = join(this.stateDir, 'apt');
    mkdirSync(join(dir, 'lists/partial'), { recursive: true });
    mkdirSync(join(dir, 'cache/archives/partial'), { recursive: true });
    this.options = ['-o', `Dir::State::Lists=${join(dir, 'lists')}`, '-o', `Dir::Cache=${join(dir, 'cache')}`, '-o', 'Debug::NoLocking=1'];
    this.logger.info(`apt-get download failed with the system's package lists; updating private lists in ${dir}`);
    const updated = await run('apt-get', [...this.options, 'update']);
    if (!updated.ok) throw new Error(`apt-get update into ${dir} failed:\n${updated.output}\n${CANNOT_START_HELP}`);
  }
}

/**
 * A slimmer machine may lack a library that this one has (libnuma, libssl, …). Ask ldd what the
 * unpacked binaries cannot find and fetch the packages Debian names after those sonames.
 */
async function addMissingLibraries(apt: Apt, root: string): Promise<void> {
  if (!findExecutable(['ldd'])) return;
  const tried = new Set<string>();
  for (;;) {
    const missing = await missingSonames(root);
    if (missing.length === 0) return;
    const packages = [...new Set(missing.map(packageForSoname))].filter((p) => !tried.has(p));
    if (packages.length === 0) throw new Error(`The unpacked MariaDB/Redis still miss ${missing.join(', ')}. ${CANNOT_START_HELP}`);
    packages.forEach((p) => tried.add(p));
    await apt.downloadAndUnpack(packages, root);
  }
}

async function missingSonames(root: string): Promise<string[]> {
  const binaries = ['usr/sbin/mariadbd', 'usr/bin/mariadb', 'usr/bin/redis-server', 'usr/bin/redis-cli', 'usr/bin/rsync', 'usr/lib/galera/libgalera_smm.so']
    .map((b) => join(root, b))
    .filter((file) => existsSync(file));
  const result = await run('ldd', binaries, { env: rootEnv(root) });
  const found = [...result.output.matchAll(/^\s*(\S+) => not found/gm)].map((m) => m[1] as string);
  return [...new Set(found)];
}

/** Debian's policy names library packages after the soname: libfoo.so.1 → libfoo1, libpcre2-8.so.0 → libpcre2-8-0. */
export function packageForSoname(soname: string): string {
  const special: Record<string, string> = { 'libz.so.1': 'zlib1g', 'libcrypto.so.3': 'libssl3', 'libgcc_s.so.1': 'libgcc-s1' };
  const known = special[soname];
  if (known) return known;
  const match = /^(.+)\.so\.(\d+)/.exec(soname);
  if (!match) return soname;
  const [, base = '', version = ''] = match;
  return `${base}${/\d$/.test(base) ? '-' : ''}${version}`.toLowerCase().replace(/_/g, '-');
}
