import { createLogger } from '../../src/logger';
import { AFTER_PERIOD_END_MS, BUSY_RETRY_MS, MAX_WAIT_MS, PeriodEndTrigger, type Timer } from '../../src/usage/period-end-trigger';

const HOUR = 3_600_000;
/** An arbitrary fixed instant: the trigger only ever reads the injected clock. */
const T0 = Date.UTC(2031, 4, 1, 12, 0, 0);

/** A timer that runs nothing by itself: the test fires the armed callback. */
class ManualTimer implements Timer {
  armed: { callback: () => void; ms: number } | undefined;
  set(callback: () => void, ms: number): unknown {
    this.armed = { callback, ms };
    return this.armed;
  }
  clear(): void {
    this.armed = undefined;
  }
}

function setUp(options: { ends: number[]; busyTimes?: number }) {
  let now = T0;
  let busy = options.busyTimes ?? 0;
  const publishedAt: number[] = [];
  const timer = new ManualTimer();
  const trigger = new PeriodEndTrigger({
    nextPeriodEnd: async (after) => options.ends.filter((end) => end > after).sort((a, b) => a - b)[0] ?? null,
    publish: async () => {
      if (busy > 0) {
        busy -= 1;
        return false;
      }
      publishedAt.push(now);
      return true;
    },
    graceMs: HOUR,
    clock: () => new Date(now),
    logger: createLogger('silent'),
    timer,
  });
  return {
    trigger,
    timer,
    publishedAt,
    /** Moves the clock to `at` and fires the armed timer there, as the process's timer would. */
    fireAt: async (at: number) => {
      now = at;
      const armed = timer.armed;
      if (!armed) throw new Error('nothing is armed');
      armed.callback();
      await trigger.idle();
    },
  };
}

describe('the period-end trigger', () => {
  it('starts a publish job right after a billing period ends, and waits for the next end', async () => {
    const end = T0 + 5 * 60_000;
    const next = end + 30 * 86_400_000;
    const { trigger, timer, publishedAt, fireAt } = setUp({ ends: [end, next] });
    await trigger.start();
    expect(timer.armed?.ms).toBe(end + AFTER_PERIOD_END_MS - T0);
    await fireAt(end + AFTER_PERIOD_END_MS);
    expect(publishedAt).toEqual([end + AFTER_PERIOD_END_MS]);
    expect(timer.armed?.ms).toBe(MAX_WAIT_MS); // the next end is a month away: plan again in a while
    await fireAt(end + AFTER_PERIOD_END_MS + MAX_WAIT_MS);
    expect(publishedAt).toHaveLength(1);
    await trigger.stop();
    expect(timer.armed).toBeUndefined();
  });

  it('serves every period end that passed before a job started with that one job', async () => {
    const ends = [T0 + 60_000, T0 + 90_000, T0 + 100_000];
    const { trigger, publishedAt, fireAt } = setUp({ ends });
    await trigger.start();
    await fireAt(T0 + 100_000 + AFTER_PERIOD_END_MS);
    expect(publishedAt).toEqual([T0 + 100_000 + AFTER_PERIOD_END_MS]);
  });

  it('asks again while another job holds the lease, within the grace period', async () => {
    const end = T0 + 60_000;
    const { trigger, timer, publishedAt, fireAt } = setUp({ ends: [end], busyTimes: 2 });
    await trigger.start();
    await fireAt(end + AFTER_PERIOD_END_MS);
    expect(timer.armed?.ms).toBe(BUSY_RETRY_MS);
    await fireAt(end + AFTER_PERIOD_END_MS + BUSY_RETRY_MS);
    expect(publishedAt).toEqual([]);
    await fireAt(end + AFTER_PERIOD_END_MS + 2 * BUSY_RETRY_MS);
    expect(publishedAt).toEqual([end + AFTER_PERIOD_END_MS + 2 * BUSY_RETRY_MS]);
  });

  it('still serves a period that ended shortly before it started (a restart in the grace period)', async () => {
    const { trigger, timer } = setUp({ ends: [T0 - 10 * 60_000] });
    await trigger.start();
    expect(timer.armed?.ms).toBe(0);
  });

  it('does not serve a period whose grace period is mostly over when it starts', async () => {
    const { trigger, timer } = setUp({ ends: [T0 - 40 * 60_000] });
    await trigger.start();
    expect(timer.armed?.ms).toBe(MAX_WAIT_MS);
  });
});
