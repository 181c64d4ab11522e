/**
 * The server's time. `manual` (tests): it stands still unless a test advances it, so expiry and
 * webhook retries happen when the test says. `wall` (the CLI's default, for the demo): it follows
 * the machine's clock, plus whatever a control advanced it by.
 */
export type ClockMode = 'manual' | 'wall';

export class Clock {
  private offsetMs = 0;
  private readonly base: number;

  constructor(readonly mode: ClockMode, startAtMs?: number) {
    this.base = startAtMs ?? Date.now();
    if (mode === 'wall' && startAtMs !== undefined) this.offsetMs = startAtMs - Date.now();
  }

  nowMs(): number {
    return this.mode === 'manual' ? this.base + this.offsetMs : Date.now() + this.offsetMs;
  }

  now(): Date {
    return new Date(this.nowMs());
  }

  advance(seconds: number): Date {
    if (!Number.isFinite(seconds) || seconds < 0) throw new RangeError('advance takes a non-negative number of seconds');
    this.offsetMs += Math.round(seconds * 1000);
    return this.now();
  }

  advanceTo(target: Date): Date {
    const ms = target.getTime();
    if (Number.isNaN(ms)) throw new RangeError('advanceTo takes a valid date');
    if (ms < this.nowMs()) throw new RangeError('the clock never moves backwards');
    return this.advance((ms - this.nowMs()) / 1000);
  }
}
