import { DomainEvent } from '../../infra/events/event-bus.js';

export interface NewAssignment {
  id: string;
  listId: string;
  campaignId: string;
  userId: string;
  externalId: string | null;
  code: string;
  assignedAt: Date;
  /** The list's expiry at the time of assignment. */
  expiresAt: Date | null;
}

/**
 * New codes were handed out (never published for `reused` answers). Published after the claim
 * transaction has committed, one event per committed batch. Delivery sends the codes; history
 * and exports read the rows.
 */
export class CouponsAssigned extends DomainEvent {
  constructor(readonly assignments: NewAssignment[]) {
    super();
  }
}

/** The claim window handed an earlier assignment back (recorded in the coupon history). */
export class CouponAssignmentsReused extends DomainEvent {
  constructor(readonly reuses: Array<{ assignmentId: string; campaignId: string; userId: string; at: Date }>) {
    super();
  }
}
