import type { AppContext } from '../../app-context.js';
import { DeliveryStatus } from './delivery.entity.js';
import type { DeliveryChannel } from './transactional-message.entity.js';

export type AttemptOutcome = 'SENT' | 'FAILED' | 'RETRY';

export interface AttemptRecord {
  assignmentId: string;
  channel: DeliveryChannel;
  attempt: number;
  outcome: AttemptOutcome;
  httpStatus: number | null;
  error: string | null;
  at: Date;
}

const MAX_BATCH = 250;
const MAX_WAIT_MS = 5;

/**
 * Writes send outcomes: the `deliveries` row and a `delivery_attempts` row per attempt. Outcomes
 * of concurrent sends are written together (a few ms apart at most), so hundreds of sends per
 * second cost a few statements; each send still waits until its own outcome is committed.
 * SENT and FAILED are final: a late or repeated outcome never changes them.
 */
export class DeliveryRecorder {
  private buffer: Array<{ record: AttemptRecord; resolve: () => void; reject: (error: unknown) => void }> = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly app: AppContext) {}

  record(record: AttemptRecord): Promise<void> {
    return new Promise((resolve, reject) => {
      this.buffer.push({ record, resolve, reject });
      if (this.buffer.length >= MAX_BATCH) void this.flush();
      else this.timer ??= setTimeout(() => void this.flush(), MAX_WAIT_MS);
    });
  }

  private async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.buffer;
    this.buffer = [];
    if (batch.length === 0) return;
    try {
      await this.write(batch.map((item) => item.record));
      for (const item of batch) item.resolve();
    } catch (error) {
      for (const item of batch) item.reject(error);
    }
  }

  private async write(records: AttemptRecord[]): Promise<void> {
    // One row per delivery in a statement (the last outcome wins), in key order against deadlocks.
    const latest = new Map<string, AttemptRecord>();
    for (const record of records) latest.set(`${record.assignmentId}:${record.channel}`, record);
    const rows = [...latest.values()].sort((a, b) => (a.assignmentId === b.assignmentId ? (a.channel < b.channel ? -1 : 1) : a.assignmentId < b.assignmentId ? -1 : 1));
    const pending = `status = '${DeliveryStatus.PENDING}'`;
    await this.app.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO deliveries (assignment_id, channel, status, attempts, sent_at, error)
         VALUES ${rows.map(() => '(?, ?, ?, ?, ?, ?)').join(', ')}
         ON DUPLICATE KEY UPDATE
           attempts = IF(${pending}, GREATEST(attempts + 1, VALUES(attempts)), attempts),
           sent_at = IF(${pending}, VALUES(sent_at), sent_at),
           error = IF(${pending}, VALUES(error), error),
           status = IF(${pending}, VALUES(status), status)`,
        rows.flatMap((row) => [
          row.assignmentId,
          row.channel,
          row.outcome === 'RETRY' ? DeliveryStatus.PENDING : row.outcome,
          row.attempt,
          row.outcome === 'SENT' ? row.at : null,
          row.outcome === 'SENT' ? null : row.error,
        ]),
      );
      await tx.query(
        `INSERT INTO delivery_attempts (assignment_id, channel, attempt, outcome, http_status, error, at) VALUES ${records.map(() => '(?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
        records.flatMap((row) => [row.assignmentId, row.channel, row.attempt, row.outcome, row.httpStatus, row.error, row.at]),
      );
    });
  }
}
