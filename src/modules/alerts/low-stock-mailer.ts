import { UnrecoverableError, type Job } from 'bullmq';
import { createTransport, type Transporter } from 'nodemailer';
import type { AppContext } from '../../app-context.js';
import type { LowStockMailJob } from './low-stock-alert.service.js';

const DEFAULT_FROM = 'Coupon lists <no-reply@localhost>';
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/** The mail of one low-stock alert: the list, what is left and the limit. */
export function lowStockMail(listName: string, listId: string, availableCodes: number, warningLimit: number): { subject: string; text: string } {
  const left = `${availableCodes} code${availableCodes === 1 ? '' : 's'} left`;
  return {
    // No quotes: a plain ASCII subject travels unencoded.
    subject: `Low stock: ${listName} has ${left} (warning limit ${warningLimit})`,
    text: [
      `The coupon list "${listName}" (id ${listId}) has ${left}, at or below its warning limit of ${warningLimit}.`,
      '',
      'Upload more codes (or raise the limit of a fixed-code list) to keep its campaigns handing out codes.',
      'You will hear again only after the list has risen above the limit and reached it once more.',
    ].join('\n'),
  };
}

/**
 * Sends low-stock e-mails from the worker's job queue, one job per recipient and crossing, so a
 * mail server that is slow or down only delays these jobs (retried with backoff), never a claim.
 */
export class LowStockMailer {
  private transporter: Transporter | null = null;

  constructor(private readonly app: AppContext) {}

  private transport(): Transporter {
    const url = this.app.config.SMTP_URL;
    if (!url) throw new UnrecoverableError('SMTP_URL is not set');
    if (!this.transporter) {
      const host = new URL(url).hostname;
      const explicitTls = /[?&](tls\.rejectUnauthorized|ignoreTLS)=/.test(url);
      this.transporter = createTransport({
        url,
        connectionTimeout: 10_000,
        greetingTimeout: 10_000,
        socketTimeout: 30_000,
        // A relay on this machine (a dev or test server) usually offers STARTTLS with a
        // self-signed certificate; remote servers keep full verification.
        ...(LOOPBACK_HOSTS.has(host) && !explicitTls ? { tls: { rejectUnauthorized: false } } : {}),
      } as Parameters<typeof createTransport>[0]);
      this.app.onShutdown(() => this.transporter?.close());
    }
    return this.transporter;
  }

  async send(job: Job<LowStockMailJob>): Promise<void> {
    const { listId, to, availableCodes, warningLimit } = job.data;
    const rows: Array<{ name: string }> = await this.app.dataSource.query('SELECT name FROM coupon_lists WHERE id = ?', [listId]);
    const listName = rows[0]?.name ?? `#${listId}`;
    await this.deliver(to, lowStockMail(listName, listId, availableCodes, warningLimit));
    this.app.logger.info({ listId, to, crossing: job.data.crossing }, 'low-stock alert e-mailed');
  }

  /** Sends one alert e-mail (low stock, a disabled webhook endpoint); a permanent refusal is not retried. */
  async deliver(to: string, mail: { subject: string; text: string }): Promise<void> {
    try {
      await this.transport().sendMail({ from: this.app.config.ALERT_FROM ?? DEFAULT_FROM, to, ...mail });
    } catch (error) {
      const responseCode = Number((error as { responseCode?: number }).responseCode);
      // A permanent refusal (5xx, e.g. an unknown recipient) will not change by retrying.
      if (responseCode >= 500 && responseCode < 600) throw new UnrecoverableError(`mail to ${to} refused: ${(error as Error).message}`);
      throw error;
    }
  }
}
