import { randomBytes, randomUUID } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type { AppContext } from '../../app-context.js';
import { BadUserInputError, NotFoundError, RateLimitedError } from '../../common/errors.js';
import { isRowId } from '../../common/ids.js';
import { requireDate } from '../../common/validation.js';
import type { Tx } from '../../infra/db/transaction.js';
import { openSnapshotConnection, type SnapshotConnection } from '../../infra/db/special-connections.js';
import { ApiKeyRole } from '../auth/api-key-role.js';
import { ApiKeyService } from '../auth/api-key.service.js';
import { WebhookEvent } from '../webhooks/webhook-event.js';
import { writeWebhookMessages } from '../webhooks/webhook-outbox.js';
import type { Caller } from '../auth/caller.js';
import { CouponUsageExport, ExportStatus } from './coupon-usage-export.entity.js';
import { DownloadLinks } from './download-links.js';
import { LocalDirectoryExportStorage, type ExportStorage, type StoredExportFile } from './export-storage.js';
import { UsageCsvWriter } from './usage-csv.js';

export const EXPORT_QUEUE = 'coupon-usage-exports';
export const EXPORT_HOUSEKEEPING_QUEUE = 'coupon-usage-export-housekeeping';

export interface ExportRequest {
  listId: string;
  from?: Date | null;
  to?: Date | null;
  campaignId?: string | null;
}

export interface DownloadCredentials {
  /** The Authorization header. */
  authorization?: string;
  /** The signed link's query parameters. */
  expires?: unknown;
  signature?: unknown;
}

export type DownloadOutcome =
  | { ok: true; file: StoredExportFile; fileName: string }
  | { ok: false; status: 401 | 403 | 404 | 409 | 410; message: string };

/** Exports whose job may have been lost are looked at once they are this old. */
const STUCK_AFTER_MS = 10 * 60_000;
/** Half-written files older than this belong to attempts that died. */
const ABANDONED_AFTER_MS = 24 * 3600_000;
/** Exports one key may have queued or running at once. */
export const MAX_ACTIVE_EXPORTS_PER_KEY = 5;
const EXPORT_SLOT_RETRY_MS = 10_000;
const READ_ROLES = new Set<ApiKeyRole>([ApiKeyRole.ADMIN, ApiKeyRole.VIEWER]);

/**
 * Usage exports: the request (a row and a job), the job that streams the list's assignments
 * into a CSV file, the download, and the removal of files after EXPORT_RETENTION_HOURS.
 */
export class CouponUsageExportService {
  /** Where files are written and read; replace with an object-store implementation where no volume is shared. */
  storage: ExportStorage;
  private readonly links: DownloadLinks;

  constructor(
    private readonly app: AppContext,
    private readonly keys: ApiKeyService = app.get(ApiKeyService),
  ) {
    this.storage = new LocalDirectoryExportStorage(app.config.EXPORT_DIR);
    this.links = new DownloadLinks(app);
  }

  async findById(id: string): Promise<CouponUsageExport | null> {
    if (!isRowId(id)) return null;
    return this.app.dataSource.getRepository(CouponUsageExport).findOne({ where: { id } });
  }

  /** Records the export and queues its job; the file is written by a worker. */
  async request(input: ExportRequest, caller: Caller | null): Promise<CouponUsageExport> {
    const listId = input.listId;
    const from = input.from == null ? null : requireDate('from', input.from);
    const to = input.to == null ? null : requireDate('to', input.to);
    if (from && to && from.getTime() >= to.getTime()) throw new BadUserInputError('to', 'must be later than from');
    const [list] = isRowId(listId) ? await this.app.dataSource.query('SELECT id FROM coupon_lists WHERE id = ?', [listId]) : [];
    if (!list) throw new NotFoundError('Coupon list', listId);
    const campaignId = input.campaignId ?? null;
    if (campaignId !== null) {
      const [campaign] = isRowId(campaignId)
        ? await this.app.dataSource.query(
            'SELECT c.id, cl.list_id FROM campaigns c LEFT JOIN campaign_lists cl ON cl.campaign_id = c.id AND cl.list_id = ? WHERE c.id = ?',
            [listId, campaignId],
          )
        : [];
      if (!campaign) throw new NotFoundError('Campaign', campaignId);
      if (campaign.list_id === null) throw new BadUserInputError('campaignId', `campaign ${campaignId} does not hand out codes from list ${listId}`);
    }

    const exportId = await this.app.transaction(
      async (tx) => {
        if (caller) await this.holdExportSlot(tx, caller.keyId);
        const inserted = await tx.query(
          `INSERT INTO coupon_usage_exports (list_id, campaign_id, assigned_from, assigned_to, status, requested_by, created_at)
           VALUES (?, ?, ?, ?, 'QUEUED', ?, UTC_TIMESTAMP(3))`,
          [listId, campaignId, from, to, caller?.keyId ?? null],
        );
        return String(inserted.insertId);
      },
      { isolation: 'REPEATABLE READ' },
    );
    // Read before the job exists: the answer is the export as requested (QUEUED), not a worker's later state.
    const requested = (await this.findById(exportId))!;
    try {
      await this.enqueue(exportId);
    } catch (error) {
      // The row stays QUEUED; housekeeping queues it again once Redis answers.
      this.app.logger.error({ err: error, exportId }, 'export job could not be queued');
    }
    this.app.logger.info({ exportId, listId, campaignId, from, to }, 'usage export requested');
    return requested;
  }

  /**
   * At most MAX_ACTIVE_EXPORTS_PER_KEY exports of one key queued or running. The locking read
   * holds the key's range of the (requested_by, status) index until commit, so two requests
   * cannot both see a free slot: the second waits (or deadlocks and is retried) and then counts
   * the first.
   */
  private async holdExportSlot(tx: Tx, keyId: string): Promise<void> {
    const active: unknown[] = await tx.query(
      "SELECT id FROM coupon_usage_exports WHERE requested_by = ? AND status IN ('QUEUED', 'PROCESSING') FOR UPDATE",
      [keyId],
    );
    if (active.length >= MAX_ACTIVE_EXPORTS_PER_KEY) {
      throw new RateLimitedError(
        EXPORT_SLOT_RETRY_MS,
        `This API key has ${active.length} exports queued or running, the most allowed (${MAX_ACTIVE_EXPORTS_PER_KEY}); request more once one has finished`,
      );
    }
  }

  private enqueue(exportId: string) {
    return this.app.queues.queue(EXPORT_QUEUE).add(
      'export',
      { exportId },
      {
        // One job per export: queuing it again (housekeeping) while it exists does nothing.
        jobId: `export-${exportId}`,
        attempts: 3,
        backoff: { type: 'exponential', delay: 5_000 },
        removeOnComplete: { age: 24 * 3600 },
        removeOnFail: { age: 7 * 24 * 3600 },
      },
    );
  }

  /** An absolute, signed link while the file can be downloaded; null otherwise. */
  async downloadUrl(row: CouponUsageExport, requestOrigin: string | null): Promise<string | null> {
    if (row.status !== ExportStatus.COMPLETED || !row.fileKey) return null;
    if (row.fileExpiresAt && row.fileExpiresAt.getTime() <= Date.now()) return null;
    const base = (this.app.config.PUBLIC_URL ?? requestOrigin ?? `http://localhost:${this.app.config.PORT}`).replace(/\/+$/, '');
    return `${base}/exports/${row.id}/download?${await this.links.sign(row.id)}`;
  }

  /**
   * Decides whether a download request may have the file: a key that may read everything
   * (ADMIN, VIEWER) or a valid, unexpired signed link. Nothing of the file is opened otherwise.
   */
  async openDownload(id: string, credentials: DownloadCredentials): Promise<DownloadOutcome> {
    const token = /^\s*Bearer\s+(\S+)\s*$/i.exec(credentials.authorization ?? '')?.[1];
    const hasLink = credentials.expires !== undefined || credentials.signature !== undefined;
    if (!token && !hasLink) {
      return { ok: false, status: 401, message: 'Send "Authorization: Bearer <key>" or use the signed downloadUrl of the export' };
    }
    let denied: DownloadOutcome | null = null;
    let allowed = false;
    if (hasLink) {
      const verdict = isRowId(id) ? await this.links.verify(id, credentials.expires, credentials.signature) : 'invalid';
      if (verdict === 'valid') allowed = true;
      else if (verdict === 'expired') denied = { ok: false, status: 403, message: 'This download link has expired; read couponUsageExport.downloadUrl for a fresh one' };
      else denied = { ok: false, status: 403, message: 'This download link is not valid' };
    }
    if (!allowed && token) {
      const caller = await this.keys.authenticate(token);
      if (!caller) denied = { ok: false, status: 401, message: 'The API key is not valid' };
      else if (!READ_ROLES.has(caller.role)) denied = { ok: false, status: 403, message: `Downloading exports needs a key with role ADMIN or VIEWER; this key has role ${caller.role}` };
      else allowed = true;
    }
    if (!allowed) return denied!;

    const row = await this.findById(id);
    if (!row) return { ok: false, status: 404, message: `Export ${JSON.stringify(id)} does not exist` };
    if (row.status !== ExportStatus.COMPLETED) return { ok: false, status: 409, message: `Export ${id} is ${row.status}, not COMPLETED` };
    const expired = !row.fileKey || (row.fileExpiresAt !== null && row.fileExpiresAt.getTime() <= Date.now());
    const file = expired ? null : await this.storage.openReadStream(row.fileKey!);
    if (!file) return { ok: false, status: 410, message: `The file of export ${id} was removed after the retention period; request a new export` };
    return { ok: true, file, fileName: `coupon-usage-list-${row.listId}-export-${row.id}.csv` };
  }

  /**
   * The job: writes the CSV from one consistent snapshot and completes the export. Safe to run
   * again: a settled export is left alone, and an interrupted one is written again from a fresh
   * snapshot into a new file (each attempt has its own key; only the attempt that completes the
   * row keeps its file).
   */
  async run(exportId: string, finalAttempt: boolean): Promise<void> {
    const claimed = await this.app.dataSource.query(
      `UPDATE coupon_usage_exports SET status = 'PROCESSING', started_at = UTC_TIMESTAMP(3)
       WHERE id = ? AND status IN ('QUEUED', 'PROCESSING')`,
      [exportId],
    );
    if (claimed.affectedRows === 0) return;
    const row = (await this.findById(exportId))!;
    const fileKey = `coupon-usage-${row.id}-${randomBytes(6).toString('hex')}.csv`;
    const started = Date.now();
    let writer: Awaited<ReturnType<ExportStorage['createWriteStream']>> | null = null;
    let connection: SnapshotConnection | null = null;
    try {
      writer = await this.storage.createWriteStream(fileKey);
      connection = await this.snapshotConnection();
      const [{ now: snapshotAt }] = await connection.query('SELECT UTC_TIMESTAMP(3) AS now');
      const { sql, values } = this.assignmentsQuery(row);
      const csv = new UsageCsvWriter(writer.stream);
      // Back-pressure reaches MySQL: the connection stops reading while the file catches up.
      await pipeline(connection.stream(sql, values, 128), csv);
      await connection.end();
      connection = null;
      const { bytes } = await writer.commit();
      const completed = await this.app.transaction(async (tx) => {
        const result = await tx.query(
          `UPDATE coupon_usage_exports
           SET status = 'COMPLETED', row_count = ?, file_key = ?, file_bytes = ?, snapshot_at = ?, failure_reason = NULL,
               completed_at = UTC_TIMESTAMP(3), file_expires_at = UTC_TIMESTAMP(3) + INTERVAL ? HOUR
           WHERE id = ? AND status = 'PROCESSING'`,
          [csv.rows, fileKey, bytes, `${snapshotAt}`, this.app.config.EXPORT_RETENTION_HOURS, exportId],
        );
        // In the same transaction: the message exists exactly when the export is COMPLETED.
        if (result.affectedRows === 1) {
          await writeWebhookMessages(tx, [{ event: WebhookEvent.EXPORT_COMPLETED, data: { exportId: String(row.id), listId: String(row.listId), rowCount: csv.rows } }]);
        }
        return result;
      });
      if (completed.affectedRows === 0) {
        await this.storage.remove(fileKey);
        return;
      }
      this.app.logger.info({ exportId, rows: csv.rows, bytes, ms: Date.now() - started }, 'usage export completed');
    } catch (error) {
      connection?.destroy();
      await writer?.abort().catch(() => undefined);
      if (finalAttempt) await this.markFailed(exportId, error);
      throw error;
    }
  }

  private async markFailed(exportId: string, error: unknown): Promise<boolean> {
    const errorId = randomUUID();
    const result = await this.app.dataSource.query(
      `UPDATE coupon_usage_exports SET status = 'FAILED', failure_reason = ?, completed_at = UTC_TIMESTAMP(3)
       WHERE id = ? AND status IN ('QUEUED', 'PROCESSING')`,
      [`The file could not be written (error id ${errorId}); request the export again`, exportId],
    );
    if (result.affectedRows === 0) return false;
    this.app.logger.error({ err: error, exportId, errorId }, 'usage export failed');
    return true;
  }

  /**
   * A connection of its own holding one read view for the whole stream: assignments committed
   * after it are not in the file, whatever their assigned_at, while claims go on.
   */
  private snapshotConnection(): Promise<SnapshotConnection> {
    return openSnapshotConnection(this.app.config.DATABASE_URL, {
      session: [
        'SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ',
        // The server waits for a paused reader (slow storage) instead of cutting the stream after 60 s.
        'SET SESSION net_write_timeout = 3600',
      ],
      onError: (error) => this.app.logger.warn({ err: error }, 'export connection error'),
    });
  }

  /** Ordered by (assigned_at, id) along the list index: no sort, rows flow as they are read. */
  private assignmentsQuery(row: CouponUsageExport): { sql: string; values: unknown[] } {
    const conditions = ['list_id = ?'];
    const values: unknown[] = [row.listId];
    if (row.assignedFrom) {
      conditions.push('assigned_at >= ?');
      values.push(row.assignedFrom);
    }
    if (row.assignedTo) {
      conditions.push('assigned_at < ?');
      values.push(row.assignedTo);
    }
    if (row.campaignId) {
      conditions.push('campaign_id = ?');
      values.push(row.campaignId);
    }
    return {
      // The live redemption of each assignment, by KEY (assignment_id, live): one index lookup per row.
      sql: `SELECT a.external_id, a.user_id, a.code, a.assigned_at, r.redeemed_at, r.order_id
              FROM coupon_assignments a FORCE INDEX (idx_coupon_assignments_list)
              LEFT JOIN coupon_redemptions r ON r.assignment_id = a.id AND r.live = 1
            WHERE ${conditions.map((condition) => `a.${condition}`).join(' AND ')} ORDER BY a.assigned_at, a.id`,
      values,
    };
  }

  /**
   * Runs periodically on a worker: removes files past their retention, half-written files of
   * dead attempts, and settles exports whose job was lost (queued again, or FAILED).
   */
  async housekeeping(): Promise<{ filesRemoved: number; requeued: number; failed: number }> {
    let filesRemoved = 0;
    for (;;) {
      const expired: Array<{ id: string; file_key: string }> = await this.app.dataSource.query(
        `SELECT id, file_key FROM coupon_usage_exports
         WHERE status = 'COMPLETED' AND file_expires_at <= UTC_TIMESTAMP(3) AND file_key IS NOT NULL
         ORDER BY file_expires_at LIMIT 200`,
      );
      for (const row of expired) {
        await this.storage.remove(row.file_key);
        await this.app.dataSource.query(
          'UPDATE coupon_usage_exports SET file_key = NULL, file_removed_at = UTC_TIMESTAMP(3) WHERE id = ? AND file_key = ?',
          [row.id, row.file_key],
        );
        filesRemoved++;
      }
      if (expired.length < 200) break;
    }
    await this.storage.removeAbandoned(ABANDONED_AFTER_MS);

    let requeued = 0;
    let failed = 0;
    const unsettled: Array<{ id: string }> = await this.app.dataSource.query(
      `SELECT id FROM coupon_usage_exports WHERE status IN ('QUEUED', 'PROCESSING') AND created_at <= UTC_TIMESTAMP(3) - INTERVAL ? SECOND LIMIT 500`,
      [STUCK_AFTER_MS / 1000],
    );
    for (const { id } of unsettled) {
      const job = await this.app.queues.queue(EXPORT_QUEUE).getJob(`export-${id}`);
      const state = job ? await job.getState() : 'missing';
      if (state === 'missing' || state === 'unknown') {
        await this.enqueue(id);
        requeued++;
      } else if (state === 'failed' || state === 'completed') {
        if (await this.markFailed(id, new Error(`export job ended (${state}) without settling the export`))) failed++;
      }
    }
    if (filesRemoved || requeued || failed) this.app.logger.info({ filesRemoved, requeued, failed }, 'export housekeeping');
    return { filesRemoved, requeued, failed };
  }

  /** Worker side: the export job processor and the periodic housekeeping. */
  async startWorkers(): Promise<void> {
    this.app.queues.worker<{ exportId: string }>(
      EXPORT_QUEUE,
      async (job) => this.run(job.data.exportId, job.attemptsMade + 1 >= (job.opts.attempts ?? 1)),
      { concurrency: 2 },
    );
    this.app.queues.worker(EXPORT_HOUSEKEEPING_QUEUE, async () => this.housekeeping(), { concurrency: 1 });
    await this.app.queues
      .queue(EXPORT_HOUSEKEEPING_QUEUE)
      .upsertJobScheduler('export-housekeeping', { every: 15 * 60_000 }, { name: 'housekeeping', opts: { removeOnComplete: 100, removeOnFail: 100 } });
  }
}
