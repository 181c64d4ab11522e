import type { BillingCycle } from '../domain/model';

/** Words of invoice lines, for people: "2,982", "30 Nov – 30 Dec", "monthly". */

export function count(value: bigint): string {
  return value.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** A period in UTC days: "30 Nov – 30 Dec", with the years when they differ ("30 Dec 2026 – 30 Jan 2027"). */
export function period(start: Date, end: Date): string {
  const withYear = start.getUTCFullYear() !== end.getUTCFullYear();
  const day = (date: Date) =>
    `${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]}${withYear ? ` ${date.getUTCFullYear()}` : ''}`;
  return `${day(start)} – ${day(end)}`;
}

const CYCLE_WORDS: Record<BillingCycle, string> = { day: 'daily', week: 'weekly', month: 'monthly', year: 'yearly' };

export function cycleWord(cycle: BillingCycle): string {
  return CYCLE_WORDS[cycle];
}

/** Calls `first`–`last` ("calls 1,001–10,000"); a tier without an upper bound: "calls 10,001 and more". */
export function callRange(first: bigint, last: bigint | null): string {
  if (last === first) return `call ${count(first)}`;
  return last === null ? `calls ${count(first)} and more` : `calls ${count(first)}–${count(last)}`;
}

/** "1 call", "2,982 calls". */
export function calls(value: bigint): string {
  return `${count(value)} ${value === 1n ? 'call' : 'calls'}`;
}
