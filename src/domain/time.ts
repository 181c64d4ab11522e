/** A UTC timestamp as the gateway tables store it ('YYYY-MM-DD HH:MM:SS', see docs/database.md). */
export function utcTimestamp(date: Date): string {
  return date.toISOString().slice(0, 19).replace('T', ' ');
}

/** Reads a timestamp column back as the same UTC string, whatever the driver returned. */
export function readTimestamp(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return utcTimestamp(value);
  if (typeof value === 'number') return utcTimestamp(new Date(value));
  return String(value).slice(0, 19).replace('T', ' ');
}
