import { engineServerControl, stripeControl } from './rest-client';

/** The clock of the demo's local billing server (simulated there: it only moves forward). */
export interface EngineServerClock {
  /** Its time, ms since the epoch. */
  now(): Promise<number>;
  /** Moves it to `ms` (never back); answers its time afterwards. */
  advanceTo(ms: number): Promise<number>;
  /** Its finest step in ms (Stripe's clock counts whole seconds). */
  resolutionMs: number;
}

/** The local Stripe server's clock (`/_test/clock`, whole unix seconds). */
export function stripeServerClock(stripeUrl: string): EngineServerClock {
  return {
    now: async () => (await stripeControl<{ now: number }>(stripeUrl, '/clock')).now * 1000,
    advanceTo: async (ms) => (await stripeControl<{ now: number }>(stripeUrl, '/clock/advance', { to: Math.floor(ms / 1000) })).now * 1000,
    resolutionMs: 1000,
  };
}

/** The local MyFatoorah server's clock (`/_test/clock`, ISO dates; it follows the wall clock plus what it was advanced). */
export function myFatoorahServerClock(serverUrl: string): EngineServerClock {
  const now = async () => Date.parse((await engineServerControl<{ now: string }>(serverUrl, 'GET', '/clock')).now);
  return {
    now,
    resolutionMs: 1,
    advanceTo: async (ms) => {
      // Its clock runs on by itself: a target it has passed (even while the request travelled) is no move.
      if (ms <= (await now()) + 100) return now();
      try {
        return Date.parse((await engineServerControl<{ now: string }>(serverUrl, 'POST', '/clock/advance', { to: new Date(ms).toISOString() })).now);
      } catch (error) {
        if (error instanceof Error && /never moves backwards/.test(error.message)) return now();
        throw error;
      }
    },
  };
}

/**
 * One time line for the demo. The local billing server's clock is simulated and moves only
 * forward; Meterline and the demo gateway read `now()`, which is the wall clock plus the distance
 * the demo moved that server's clock ahead. `keepInStep` moves the server's clock along with it,
 * so usage stamped by the gateway is never "in the future" for it, and a month advanced for the
 * story is a month for everyone.
 */
export class DemoClock {
  private offsetMs = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly server: EngineServerClock) {}

  readonly now = (): Date => new Date(Date.now() + this.offsetMs);

  /** Moves the server's clock up to `now()` (it only moves forward). */
  async sync(): Promise<void> {
    const serverNow = await this.server.now();
    const step = this.server.resolutionMs;
    const target = Math.floor(this.now().getTime() / step) * step;
    if (target > serverNow) await this.server.advanceTo(target);
    else this.offsetMs = serverNow - Date.now();
  }

  /** Moves everyone's clock to `unixSeconds`: the billing server acts on what it passes on the way (Stripe closes periods). */
  async advanceTo(unixSeconds: number): Promise<void> {
    const now = await this.server.advanceTo(unixSeconds * 1000);
    this.offsetMs = now - Date.now();
  }

  /** Keeps the server's clock following `now()` every few seconds while the demo stays up. */
  keepInStep(everyMs = 5_000): void {
    this.timer = setInterval(() => void this.sync().catch(() => undefined), everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
