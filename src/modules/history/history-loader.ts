import type { GraphQLContext } from '../graphql-context.js';
import { CouponHistoryService, type AssignmentKey } from './coupon-history.service.js';
import type { CouponAssignmentEvent } from './coupon-assignment-event.js';

interface Pending {
  assignment: AssignmentKey;
  resolve(events: CouponAssignmentEvent[]): void;
  reject(error: unknown): void;
}

/**
 * Gathers the `history` fields asked for while one GraphQL operation is resolved (all the
 * assignments of a page) and loads them together: two queries per page, not two per assignment.
 */
class HistoryLoader {
  private pending: Pending[] = [];

  constructor(private readonly context: GraphQLContext) {}

  load(assignment: AssignmentKey): Promise<CouponAssignmentEvent[]> {
    return new Promise((resolve, reject) => {
      this.pending.push({ assignment, resolve, reject });
      // setImmediate, not a microtask: sibling fields are still being resolved through promise chains.
      if (this.pending.length === 1) setImmediate(() => this.dispatch());
    });
  }

  private dispatch(): void {
    const batch = this.pending;
    this.pending = [];
    this.context.app
      .get(CouponHistoryService)
      .histories(batch.map((entry) => entry.assignment))
      .then(
        (histories) => batch.forEach((entry, index) => entry.resolve(histories[index])),
        (error: unknown) => batch.forEach((entry) => entry.reject(error)),
      );
  }
}

const loaders = new WeakMap<GraphQLContext, HistoryLoader>();

export function historyLoader(context: GraphQLContext): HistoryLoader {
  let loader = loaders.get(context);
  if (!loader) {
    loader = new HistoryLoader(context);
    loaders.set(context, loader);
  }
  return loader;
}
