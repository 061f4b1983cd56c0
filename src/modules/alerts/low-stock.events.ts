import { DomainEvent } from '../../infra/events/event-bus.js';

/** What a low-stock alert says: the list, what is left and the limit it reached. */
export interface LowStockAlertFigures {
  listId: string;
  listName: string;
  availableCodes: number;
  warningLimit: number;
  /** When the crossing was recorded. */
  at: Date;
  /** Numbers the crossings of one list (1, 2, …): one alert each. */
  crossing: number;
}

/** A list reached its warning limit and this process won the right to raise the one alert. */
export class LowStockAlertRaised extends DomainEvent {
  constructor(readonly alert: LowStockAlertFigures) {
    super();
  }
}
