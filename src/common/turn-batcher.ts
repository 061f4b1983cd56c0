/**
 * Requests of different callers arriving in the same turn of the event loop, answered together:
 * under load one turn takes in many HTTP requests, and one statement for all of them costs the
 * process far less than a round trip each (a socket write and read, the driver's packet and
 * column parsing). Alone, a request waits only for the end of its turn (setImmediate).
 * Batches do not wait for each other (reads: any number may be in flight).
 */
export class TurnBatcher<Item, Result> {
  private pending: Array<{ item: Item; resolve: (result: Result) => void; reject: (error: unknown) => void }> = [];

  /** `run` answers the items in their order. */
  constructor(private readonly run: (items: Item[]) => Promise<Result[]>, private readonly maxBatch: number) {}

  submit(item: Item): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      if (this.pending.length === 0) setImmediate(() => this.dispatch());
      this.pending.push({ item, resolve, reject });
    });
  }

  private dispatch(): void {
    const all = this.pending;
    this.pending = [];
    for (let start = 0; start < all.length; start += this.maxBatch) {
      const batch = all.slice(start, start + this.maxBatch);
      this.run(batch.map((entry) => entry.item)).then(
        (results) => batch.forEach((entry, index) => entry.resolve(results[index])),
        (error: unknown) => batch.forEach((entry) => entry.reject(error)),
      );
    }
  }
}
