import { DomainEvent } from '../../infra/events/event-bus.js';
import type { CouponListStatus } from './coupon-list.entity.js';

/** The figures of a list at one moment, as carried by events. */
export interface CouponListSnapshot {
  id: string;
  name: string;
  totalCodes: number;
  assignedCodes: number;
  availableCodes: number;
  warningLimit: number | null;
  expiresAt: Date | null;
  status: CouponListStatus;
}

/** A list's stock or status changed (claims, uploads, edits, expiry). Carries the committed figures. */
export class CouponListStockChanged extends DomainEvent {
  constructor(readonly list: CouponListSnapshot) {
    super();
  }
}

/** A list was created or edited; `changed` names the edited fields and `previous` their old values. */
export class CouponListEdited extends DomainEvent {
  constructor(
    readonly list: CouponListSnapshot,
    readonly changed: string[],
    readonly previous: { expiresAt: Date | null; warningLimit: number | null },
    readonly created: boolean,
  ) {
    super();
  }
}
