/**
 * Fixed instants for tests whose outcome depends on the calendar (billing periods, grace days,
 * month lengths). A test that moves billing time starts its local Stripe server at one of these,
 * never at the machine's "now", so it gives the same answer on any date and in any order; CI runs
 * the time-sensitive suites again under `faketime` at awkward dates to prove it (see .ci/run).
 */

/** 2025-01-15 10:00:00 UTC: mid-month, so a monthly period ends on 15 February. */
export const STORY_START = Date.UTC(2025, 0, 15, 10, 0, 0) / 1000;

/** 2025-01-31 10:00:00 UTC: a month end, so a monthly period ends on the last day of February. */
export const MONTH_END_START = Date.UTC(2025, 0, 31, 10, 0, 0) / 1000;
