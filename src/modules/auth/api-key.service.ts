import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AppContext } from '../../app-context.js';
import { BadUserInputError, NotFoundError } from '../../common/errors.js';
import { isRowId } from '../../common/ids.js';
import { ApiKey, CreatedApiKey } from './api-key.entity.js';
import { ApiKeyRole } from './api-key-role.js';
import type { Caller } from './caller.js';

const CACHE_TTL_MS = 30_000;
const CACHE_MAX_ENTRIES = 10_000;
const REVOKED_TOPIC = 'api-key-revoked';
const DEV_ADMIN_KEY = 'dev-admin-key-change-me';

export const hashApiKey = (secret: string) => createHash('sha256').update(secret, 'utf8').digest('hex');

/**
 * API keys: creation, revocation, and turning a bearer secret into a Caller. Lookups are cached
 * for 30 s per process (the claim path authenticates thousands of times a second); a revocation
 * clears the cache of every process through pub/sub.
 */
export class ApiKeyService {
  private readonly cache = new Map<string, { caller: Caller | null; expiresAt: number }>();
  private readonly bootstrapHash: Buffer | null;

  constructor(private readonly app: AppContext) {
    const bootstrap = app.config.ADMIN_API_KEY ?? (app.config.NODE_ENV === 'production' ? undefined : DEV_ADMIN_KEY);
    this.bootstrapHash = bootstrap ? Buffer.from(hashApiKey(bootstrap), 'hex') : null;
  }

  /** Listens for revocations made by any process. */
  async listenForRevocations(): Promise<void> {
    const events = this.app.pubSub.subscribe(REVOKED_TOPIC);
    (async () => {
      for await (const _ of events) this.cache.clear();
    })().catch((error: unknown) => this.app.logger.warn({ err: error }, 'api key revocation listener stopped'));
  }

  usesDevelopmentKey(): boolean {
    return !this.app.config.ADMIN_API_KEY && this.bootstrapHash !== null;
  }

  async authenticate(secret: string | undefined): Promise<Caller | null> {
    if (!secret) return null;
    const hash = hashApiKey(secret);
    if (this.bootstrapHash && timingSafeEqual(Buffer.from(hash, 'hex'), this.bootstrapHash)) {
      return { keyId: 'bootstrap', role: ApiKeyRole.ADMIN };
    }
    const cached = this.cache.get(hash);
    if (cached && cached.expiresAt > Date.now()) return cached.caller;

    const key = await this.app.dataSource.getRepository(ApiKey).findOne({ where: { keyHash: hash } });
    // The row was found by its hash; the constant-time comparison keeps timing independent of the contents.
    const valid = key !== null && key.revokedAt === null && timingSafeEqual(Buffer.from(key.keyHash, 'hex'), Buffer.from(hash, 'hex'));
    const caller = valid ? { keyId: key.id, role: key.role } : null;
    if (this.cache.size >= CACHE_MAX_ENTRIES) this.cache.clear();
    this.cache.set(hash, { caller, expiresAt: Date.now() + CACHE_TTL_MS });
    return caller;
  }

  async create(name: string, role: ApiKeyRole): Promise<CreatedApiKey> {
    const trimmed = name.trim();
    if (!trimmed) throw new BadUserInputError('name', 'must not be empty');
    if (trimmed.length > 200) throw new BadUserInputError('name', 'must be at most 200 characters');
    const secret = `ck_${randomBytes(32).toString('base64url')}`;
    const repository = this.app.dataSource.getRepository(ApiKey);
    const apiKey = await repository.save(repository.create({ name: trimmed, role, keyHash: hashApiKey(secret), revokedAt: null }));
    this.app.logger.info({ apiKeyId: apiKey.id, role }, 'api key created');
    return { apiKey, secret };
  }

  async revoke(id: string): Promise<ApiKey> {
    const repository = this.app.dataSource.getRepository(ApiKey);
    const apiKey = isRowId(id) ? await repository.findOne({ where: { id } }) : null;
    if (!apiKey) throw new NotFoundError('API key', id);
    if (!apiKey.revokedAt) {
      await repository.update({ id }, { revokedAt: new Date() });
      this.cache.clear();
      this.app.pubSub.publish(REVOKED_TOPIC, { id });
      this.app.logger.info({ apiKeyId: id }, 'api key revoked');
    }
    return (await repository.findOneOrFail({ where: { id } }));
  }

  list(): Promise<ApiKey[]> {
    return this.app.dataSource.getRepository(ApiKey).find({ order: { id: 'ASC' } });
  }
}
