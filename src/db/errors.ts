/**
 * Driver errors that mean "the request carried a value the database cannot store", translated
 * per dialect into one small vocabulary. Routes validate lengths and characters at the edge;
 * this is the safety net for a value that got past them (a token's `sub` longer than a
 * `CREATED_BY` column, a text the column's byte limit cannot hold), so such a request is
 * refused as bad input instead of failing as a server error.
 *
 * Decided by the driver's error code, never by its message (which quotes the SQL):
 *
 * | kind | PostgreSQL (`code`) | MySQL/MariaDB (`errno`) | SQL Server (`number`) | Oracle (`errorNum`) |
 * | --- | --- | --- | --- | --- |
 * | VALUE_TOO_LONG | 22001 | 1406 ER_DATA_TOO_LONG | 8152, 2628 | 12899 |
 * | UNSTORABLE_CHARACTER | 22021 (e.g. NUL), 22P05 | 1366 ER_TRUNCATED_WRONG_VALUE_FOR_FIELD | — | — |
 *
 * SQLite keeps any length and any character, so it never produces either.
 */
export type StoredValueProblem = 'VALUE_TOO_LONG' | 'UNSTORABLE_CHARACTER';

const POSTGRES: Record<string, StoredValueProblem> = { '22001': 'VALUE_TOO_LONG', '22021': 'UNSTORABLE_CHARACTER', '22P05': 'UNSTORABLE_CHARACTER' };
const MYSQL: Record<number, StoredValueProblem> = { 1406: 'VALUE_TOO_LONG', 1366: 'UNSTORABLE_CHARACTER' };
const SQL_SERVER: Record<number, StoredValueProblem> = { 8152: 'VALUE_TOO_LONG', 2628: 'VALUE_TOO_LONG' };
const ORACLE: Record<number, StoredValueProblem> = { 12899: 'VALUE_TOO_LONG' };

/** The problem a driver error reports with a stored value, or undefined for any other error. */
export function storedValueProblem(error: unknown): StoredValueProblem | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as { code?: unknown; severity?: unknown; errno?: unknown; sqlState?: unknown; number?: unknown; class?: unknown; errorNum?: unknown };
  // pg's DatabaseError: a SQLSTATE in `code`, with the server's `severity`.
  if (typeof e.code === 'string' && typeof e.severity === 'string') return POSTGRES[e.code];
  // mysql2: the server's `errno` with its `sqlState`.
  if (typeof e.errno === 'number' && typeof e.sqlState === 'string') return MYSQL[e.errno];
  // tedious' RequestError: the server's message `number` with its severity `class`.
  if (typeof e.number === 'number' && typeof e.class === 'number') return SQL_SERVER[e.number];
  // node-oracledb: `errorNum` is the ORA- number.
  if (typeof e.errorNum === 'number') return ORACLE[e.errorNum];
  return undefined;
}
