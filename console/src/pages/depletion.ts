import type { Stock } from '../documents/lists';
import { formatDuration } from '../format';

const WINDOW_MS = 60 * 60 * 1000;

/** Assigned-code counts seen on live updates, the last hour of them. */
export class DepletionTracker {
  private samples: { at: number; assigned: number; total: number }[] = [];

  add(stock: Pick<Stock, 'assignedCodes' | 'totalCodes'>, at = Date.now()): void {
    // A REPLACE upload lowers the assigned count of what is left: start over.
    const last = this.samples[this.samples.length - 1];
    if (last && stock.assignedCodes < last.assigned) this.samples = [];
    this.samples.push({ at, assigned: stock.assignedCodes, total: stock.totalCodes });
    while (this.samples.length > 2 && this.samples[0]!.at < at - WINDOW_MS) this.samples.shift();
  }

  /** "At the last hour's rate, runs out in about 5 h", or why there is no estimate. */
  describe(available: number, now = Date.now()): string {
    if (available <= 0) return 'No codes left.';
    const recent = this.samples.filter((sample) => sample.at >= now - WINDOW_MS);
    const first = recent[0];
    const last = recent[recent.length - 1];
    if (!first || !last || last.at <= first.at) return 'No codes handed out since this page opened: no run-out estimate yet.';
    const perSecond = (last.assigned - first.assigned) / ((last.at - first.at) / 1000);
    if (perSecond <= 0) return 'No codes handed out in the last hour while this page was open.';
    return `At the last hour's rate (${perSecond >= 1 ? `${Math.round(perSecond)} a second` : `${Math.round(perSecond * 3600)} an hour`}), runs out in ${formatDuration(available / perSecond)}.`;
  }
}
