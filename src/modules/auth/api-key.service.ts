import { LRUCache } from 'lru-cache';
import { hash as digest, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AppContext } from '../../app-context.js';
import { acceptsDevelopmentKey } from '../../config/config.js';
import { BadUserInputError, NotFoundError } from '../../common/errors.js';
import { isRowId } from '../../common/ids.js';
import { ApiKey, CreatedApiKey } from './api-key.entity.js';
import { ApiKeyRole } from './api-key-role.js';
import type { Caller } from './caller.js';

const CACHE_TTL_MS = 30_000;
/** Unknown secrets are remembered briefly: a client retrying a bad key costs no query each time. */
const NEGATIVE_CACHE_TTL_MS = 2_000;
const REVOKED_TOPIC = 'api-key-revoked';
const MAX_CAMPAIGN_SCOPES = 100;
export const DEV_ADMIN_KEY = 'dev-admin-key-change-me';
/** What create() hands out: "ck_" and 32 random bytes in base64url. Anything else is never looked up. */
const ISSUED_SECRET = /^ck_[A-Za-z0-9_-]{43}$/;

/** One-shot hashing: every request checks its key, and a Hash object per request costs several times more. */
export const hashApiKey = (secret: string) => digest('sha256', secret, 'hex');

/**
 * API keys: creation, revocation, and turning a bearer secret into a Caller. Lookups are cached
 * for 30 s per process in an LRU (the claim path authenticates thousands of times a second);
 * unknown secrets go to a separate short-lived LRU, so random tokens neither push real keys out
 * nor cost a query each when repeated. A revocation reaches every process through pub/sub: its
 * cache entries go and its WebSockets are closed (see onRevoked).
 */
export class ApiKeyService {
  private readonly known: LRUCache<string, Caller>;
  private readonly unknown: LRUCache<string, true>;
  private readonly lookups = new Map<string, Promise<Caller | null>>();
  private readonly bootstrapHash: Buffer | null;
  private readonly revokedListeners = new Set<(keyId: string) => void>();

  constructor(private readonly app: AppContext) {
    const bootstrap = app.config.ADMIN_API_KEY ?? (acceptsDevelopmentKey(app.config) ? DEV_ADMIN_KEY : undefined);
    this.bootstrapHash = bootstrap ? Buffer.from(hashApiKey(bootstrap), 'hex') : null;
    this.known = new LRUCache({ max: app.config.API_KEY_CACHE_SIZE, ttl: CACHE_TTL_MS });
    this.unknown = new LRUCache({ max: app.config.API_KEY_CACHE_SIZE, ttl: NEGATIVE_CACHE_TTL_MS });
  }

  /** Listens for revocations made by any process. */
  async listenForRevocations(): Promise<void> {
    const events = this.app.pubSub.subscribe(REVOKED_TOPIC);
    (async () => {
      for await (const event of events) this.forget(String((event as { id?: unknown }).id));
    })().catch((error: unknown) => this.app.logger.warn({ err: error }, 'api key revocation listener stopped'));
  }

  /** Calls `listener` with the key id whenever a key is revoked (on any process). */
  onRevoked(listener: (keyId: string) => void): () => void {
    this.revokedListeners.add(listener);
    return () => this.revokedListeners.delete(listener);
  }

  usesDevelopmentKey(): boolean {
    return !this.app.config.ADMIN_API_KEY && this.bootstrapHash !== null;
  }

  async authenticate(secret: string | undefined): Promise<Caller | null> {
    return this.check(secret, true);
  }

  /**
   * The same check read from the database, past the cache: for operations on a long-lived
   * WebSocket, which must not run in the moment between a revocation on another process and
   * that process's revocation message arriving here.
   */
  async authenticateUncached(secret: string | undefined): Promise<Caller | null> {
    return this.check(secret, false);
  }

  private async check(secret: string | undefined, useCache: boolean): Promise<Caller | null> {
    if (!secret) return null;
    const hash = hashApiKey(secret);
    if (this.bootstrapHash && timingSafeEqual(Buffer.from(hash, 'hex'), this.bootstrapHash)) {
      return { keyId: 'bootstrap', role: ApiKeyRole.ADMIN };
    }
    if (!ISSUED_SECRET.test(secret)) return null;
    if (!useCache) return this.lookUp(hash);
    const cached = this.known.get(hash);
    if (cached) return cached;
    if (this.unknown.has(hash)) return null;
    // Requests arriving together with one uncached key share one lookup.
    let lookup = this.lookups.get(hash);
    if (!lookup) {
      lookup = this.lookUp(hash).finally(() => this.lookups.delete(hash));
      this.lookups.set(hash, lookup);
    }
    return lookup;
  }

  private async lookUp(hash: string): Promise<Caller | null> {
    this.app.metrics.apiKeyLookups.inc();
    const key = await this.app.dataSource.getRepository(ApiKey).findOne({ where: { keyHash: hash } });
    // The row was found by its hash; the constant-time comparison keeps timing independent of the contents.
    const valid = key !== null && key.revokedAt === null && timingSafeEqual(Buffer.from(key.keyHash, 'hex'), Buffer.from(hash, 'hex'));
    if (!valid) {
      this.known.delete(hash);
      this.unknown.set(hash, true);
      return null;
    }
    const caller: Caller = { keyId: key.id, role: key.role, campaignIds: key.campaignIds };
    this.known.set(hash, caller);
    return caller;
  }

  async create(name: string, role: ApiKeyRole, campaignIds?: readonly string[] | null): Promise<CreatedApiKey> {
    const trimmed = name.trim();
    if (!trimmed) throw new BadUserInputError('name', 'must not be empty');
    if (trimmed.length > 200) throw new BadUserInputError('name', 'must be at most 200 characters');
    const scopes = await this.checkCampaignScopes(role, campaignIds ?? []);
    const secret = `ck_${randomBytes(32).toString('base64url')}`;
    const repository = this.app.dataSource.getRepository(ApiKey);
    const apiKey = await repository.save(repository.create({ name: trimmed, role, keyHash: hashApiKey(secret), campaignIds: scopes, revokedAt: null }));
    this.app.logger.info({ apiKeyId: apiKey.id, role, campaignIds: scopes }, 'api key created');
    return { apiKey, secret };
  }

  /** Campaign scopes: CLIENT keys only, existing campaigns, each once. */
  private async checkCampaignScopes(role: ApiKeyRole, campaignIds: readonly string[]): Promise<string[]> {
    if (campaignIds.length === 0) return [];
    if (role !== ApiKeyRole.CLIENT) throw new BadUserInputError('campaignIds', `only CLIENT keys are limited to campaigns; a ${role} key may not have any`);
    if (campaignIds.length > MAX_CAMPAIGN_SCOPES) throw new BadUserInputError('campaignIds', `at most ${MAX_CAMPAIGN_SCOPES} campaigns`);
    const bad = campaignIds.find((id) => !isRowId(id));
    if (bad !== undefined) throw new BadUserInputError('campaignIds', `expected campaign ids like "42", got ${JSON.stringify(bad)}`);
    const ids = [...new Set(campaignIds.map(String))];
    const found: Array<{ id: string }> = await this.app.dataSource.query('SELECT id FROM campaigns WHERE id IN (?)', [ids]);
    const missing = ids.find((id) => !found.some((row) => String(row.id) === id));
    if (missing !== undefined) throw new BadUserInputError('campaignIds', `campaign ${missing} does not exist`);
    return ids;
  }

  async revoke(id: string): Promise<ApiKey> {
    const repository = this.app.dataSource.getRepository(ApiKey);
    const apiKey = isRowId(id) ? await repository.findOne({ where: { id } }) : null;
    if (!apiKey) throw new NotFoundError('API key', id);
    if (!apiKey.revokedAt) {
      await repository.update({ id }, { revokedAt: new Date() });
      this.forget(id);
      this.app.pubSub.publish(REVOKED_TOPIC, { id });
      this.app.logger.info({ apiKeyId: id }, 'api key revoked');
    }
    return repository.findOneOrFail({ where: { id } });
  }

  /** Which of these key ids have been revoked (read from the database, not the cache). */
  async revokedAmong(keyIds: string[]): Promise<string[]> {
    const ids = keyIds.filter(isRowId);
    if (ids.length === 0) return [];
    const rows: Array<{ id: string | number }> = await this.app.dataSource.query('SELECT id FROM api_keys WHERE id IN (?) AND revoked_at IS NOT NULL', [ids]);
    return rows.map((row) => String(row.id));
  }

  /** Forgets a revoked key here as a revocation message would (for a message that never came). */
  noticeRevoked(keyId: string): void {
    this.forget(keyId);
  }

  list(): Promise<ApiKey[]> {
    return this.app.dataSource.getRepository(ApiKey).find({ order: { id: 'ASC' } });
  }

  /** This process stops accepting the key at once: cache entries go, listeners close its sockets. */
  private forget(keyId: string): void {
    for (const [hash, caller] of this.known.entries()) if (caller.keyId === keyId) this.known.delete(hash);
    for (const listener of this.revokedListeners) listener(keyId);
  }
}
