import { stripeControl } from './rest-client';

/**
 * One time line for the demo. The local Stripe server's clock is simulated and frozen unless
 * moved; Meterline and the demo gateway read `now()`, which is the wall clock plus the distance
 * the demo moved Stripe's clock ahead. `keepInStep` moves Stripe's clock along with it, so usage
 * stamped by the gateway is never "in the future" for Stripe, and a month advanced for the story
 * is a month for everyone.
 */
export class DemoClock {
  private offsetMs = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly stripeUrl: string) {}

  readonly now = (): Date => new Date(Date.now() + this.offsetMs);

  /** Moves Stripe's clock up to `now()` (it only moves forward). */
  async sync(): Promise<void> {
    const { now: stripeNow } = await stripeControl<{ now: number }>(this.stripeUrl, '/clock');
    const target = Math.floor(this.now().getTime() / 1000);
    if (target > stripeNow) await stripeControl(this.stripeUrl, '/clock/advance', { to: target });
    else this.offsetMs = stripeNow * 1000 - Date.now();
  }

  /** Moves everyone's clock to `unixSeconds`: Stripe closes the periods it passes on the way. */
  async advanceTo(unixSeconds: number): Promise<void> {
    const { now } = await stripeControl<{ now: number }>(this.stripeUrl, '/clock/advance', { to: unixSeconds });
    this.offsetMs = now * 1000 - Date.now();
  }

  /** Keeps Stripe's clock following `now()` every few seconds while the demo stays up. */
  keepInStep(everyMs = 5_000): void {
    this.timer = setInterval(() => void this.sync().catch(() => undefined), everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
