/**
 * Identifier case on PostgreSQL.
 *
 * WSO2's PostgreSQL scripts create their tables unquoted (`CREATE TABLE AM_API (API_ID ...)`),
 * and PostgreSQL folds unquoted identifiers to lower case: the tables are `am_api`, `api_id`.
 * knex quotes every identifier, so `"AM_API"` would be another table. On PostgreSQL Meterline
 * therefore writes every identifier in lower case (as the unquoted scripts do) and hands result
 * rows back with upper-case keys, so the application code reads and writes `AM_API`, `API_ID`
 * on every database. See docs/database.md ("PostgreSQL and lower-case names").
 *
 * Both functions are wired into the pg configuration by `knexConfigFor`.
 */

/** knex `wrapIdentifier`: lower-case the identifier, then let knex quote it as usual. */
export function lowerCaseIdentifier(value: string, quote: (value: string) => string): string {
  return quote(value === '*' ? value : value.toLowerCase());
}

/**
 * knex `postProcessResponse`: the same result with the keys of its rows in upper case. Handles
 * what knex hands back from pg: an array of rows (`select`, `returning`), one row (`first`), and
 * the driver's result object of a `raw()` query (its `rows`; the other fields are kept). Anything
 * else (numbers, booleans, an array of plucked values, a non-row object) passes through unchanged.
 *
 * Only plain objects count as rows; their values (dates, buffers, nested JSON) are not touched.
 * If two keys differ only in case (possible only through raw SQL with quoted aliases), the later
 * one wins.
 */
export function upperCaseRowKeys<T>(result: T): T {
  if (Array.isArray(result)) return result.map(upperCaseItem) as T;
  return upperCaseItem(result) as T;
}

function upperCaseItem(value: unknown): unknown {
  if (isPlainObject(value)) return upperCaseKeys(value);
  if (isRawResult(value)) return withRows(value, value.rows.map((row) => (isPlainObject(row) ? upperCaseKeys(row) : row)));
  return value;
}

function upperCaseKeys(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  // for...in and remembered keys: no array of entries and no new key string per row (a freeze
  // reads hundreds of thousands of rows; 190 → 67 ms for 200,000 rows of five columns).
  for (const key in row) out[upperCaseKey(key)] = row[key];
  return out;
}

/** Column names seen, upper-cased; bounded, since raw SQL may alias columns freely. */
const upperCaseKeyOf = new Map<string, string>();

function upperCaseKey(key: string): string {
  let upper = upperCaseKeyOf.get(key);
  if (upper === undefined) {
    upper = key.toUpperCase();
    if (upperCaseKeyOf.size >= 10_000) upperCaseKeyOf.clear();
    upperCaseKeyOf.set(key, upper);
  }
  return upper;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** pg's `Result` (a class instance, so not a plain object) as `raw()` returns it. */
function isRawResult(value: unknown): value is { rows: unknown[] } {
  return value !== null && typeof value === 'object' && Array.isArray((value as { rows?: unknown }).rows);
}

/** A copy of the driver's result object (same prototype and fields) with other rows. */
function withRows<T extends { rows: unknown[] }>(result: T, rows: unknown[]): T {
  const copy = Object.create(Object.getPrototypeOf(result) as object | null) as T;
  return Object.assign(copy, result, { rows });
}
