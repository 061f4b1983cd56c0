import { ConfigError, loadConfig } from '../src/config/config';

describe('configuration', () => {
  it('applies the contract defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      PORT: 4000,
      DATABASE_URL: 'mysql://root@127.0.0.1:3306/coupons',
      REDIS_URL: 'redis://127.0.0.1:6379',
      ROLE: 'all',
      CLAIM_WINDOW_SECONDS: 86400,
      EXPORT_DIR: './data/exports',
      HEAP_GROWING_PERCENT: 150,
      databaseUrlIsDefault: true,
      redisUrlIsDefault: true,
    });
  });

  it('names every bad variable in one error', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'eighty', ROLE: 'both', DATABASE_URL: 'postgres://x/y', CLAIM_WINDOW_SECONDS: '-5', SMTP_URL: 'mail.example.com', SMS_WEBHOOK_URL: 'ftp://x', HEAP_GROWING_PERCENT: '500' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    for (const name of ['PORT', 'ROLE', 'DATABASE_URL', 'CLAIM_WINDOW_SECONDS', 'SMTP_URL', 'SMS_WEBHOOK_URL', 'HEAP_GROWING_PERCENT']) expect(problems).toContain(name);
    expect((error as ConfigError).message).toContain('expected api, worker or all');
    expect((error as ConfigError).message).toContain('expected a percentage from 0 to 400');
  });

  it('requires ADMIN_API_KEY in production and never echoes secrets', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/ADMIN_API_KEY: required when NODE_ENV=production/);
    try {
      loadConfig({ ADMIN_API_KEY: 'short-secret' });
    } catch (error) {
      expect((error as Error).message).toContain('ADMIN_API_KEY');
      expect((error as Error).message).not.toContain('short-secret');
    }
    expect(loadConfig({ DATABASE_URL: 'mysql://u:p@db:3306/shop' }).databaseUrlIsDefault).toBe(false);
  });
});
