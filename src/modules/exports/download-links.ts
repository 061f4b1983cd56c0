import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AppContext } from '../../app-context.js';

const SECRET_NAME = 'export-download-links';

/**
 * Signed, expiring download links: `?expires=<unix seconds>&signature=<HMAC-SHA256>` over the
 * export id and the expiry. The key is one random secret stored once in the database
 * (`app_secrets`), so a link made by any API process is accepted by every other one, and
 * survives restarts.
 */
export class DownloadLinks {
  private secret: Promise<Buffer> | null = null;

  constructor(private readonly app: AppContext) {}

  private key(): Promise<Buffer> {
    this.secret ??= (async () => {
      // The first process to get here stores the secret; INSERT IGNORE makes every other one read that one.
      await this.app.dataSource.query('INSERT IGNORE INTO app_secrets (name, secret) VALUES (?, ?)', [SECRET_NAME, randomBytes(32)]);
      const [row] = await this.app.dataSource.query('SELECT secret FROM app_secrets WHERE name = ?', [SECRET_NAME]);
      return Buffer.from(row.secret);
    })().catch((error: unknown) => {
      this.secret = null;
      throw error;
    });
    return this.secret;
  }

  private async signature(exportId: string, expires: number): Promise<string> {
    return createHmac('sha256', await this.key()).update(`coupon-usage-export\n${exportId}\n${expires}`).digest('base64url');
  }

  /** The query string of a link to the export that is valid for EXPORT_LINK_TTL_SECONDS from now. */
  async sign(exportId: string, now = Date.now()): Promise<string> {
    const expires = Math.floor(now / 1000) + this.app.config.EXPORT_LINK_TTL_SECONDS;
    return `expires=${expires}&signature=${await this.signature(exportId, expires)}`;
  }

  /** 'valid', or why the link does not open the export. */
  async verify(exportId: string, expires: unknown, signature: unknown, now = Date.now()): Promise<'valid' | 'expired' | 'invalid'> {
    if (typeof expires !== 'string' || typeof signature !== 'string' || !/^[0-9]{1,12}$/.test(expires)) return 'invalid';
    const expected = Buffer.from(await this.signature(exportId, Number(expires)), 'utf8');
    const given = Buffer.from(signature, 'utf8');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'invalid';
    return Number(expires) * 1000 > now ? 'valid' : 'expired';
  }
}
