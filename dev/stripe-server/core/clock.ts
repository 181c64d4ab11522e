/**
 * The server's simulated time, in Unix seconds (Stripe's unit).
 *
 * Like a Stripe test clock it only moves when told to: it starts at the
 * configured instant (default: the real time at start-up) and is then frozen.
 * Advancing it is done by the billing engine, which stops at every period
 * boundary on the way so invoices carry the right dates.
 */
export class Clock {
  private current: number;

  constructor(startAt?: number) {
    this.current = startAt ?? Math.floor(Date.now() / 1000);
  }

  now(): number {
    return this.current;
  }

  /** Moves time forward only; the engine never travels back. */
  moveTo(unixSeconds: number): void {
    if (!Number.isInteger(unixSeconds)) throw new RangeError(`clock time must be whole seconds: ${unixSeconds}`);
    if (unixSeconds < this.current) {
      throw new RangeError(`clock cannot move backwards (now ${this.current}, asked ${unixSeconds})`);
    }
    this.current = unixSeconds;
  }
}
