/**
 * Driver errors translated per dialect into one small vocabulary, so no caller reads a driver's
 * error itself. Decided by the driver's error code, never by its message (which quotes the SQL
 * and, on some drivers, the bound values):
 *
 * | kind | SQLite (`code`) | PostgreSQL (`code`) | MySQL/MariaDB (`errno`) | SQL Server (`number`) | Oracle (`errorNum`) |
 * | --- | --- | --- | --- | --- | --- |
 * | UNIQUE_VIOLATION | SQLITE_CONSTRAINT_UNIQUE, _PRIMARYKEY | 23505 | 1062, 1586 | 2627, 2601 | 1 |
 * | FOREIGN_KEY_VIOLATION | SQLITE_CONSTRAINT_FOREIGNKEY | 23503 | 1452, 1451, 1216, 1217 | (547) | 2291, 2292 |
 * | CHECK_VIOLATION | SQLITE_CONSTRAINT_CHECK | 23514 | 3819 (MySQL), 4025 (MariaDB) | (547) | 2290 |
 * | DEADLOCK | — | 40P01 | 1213 | 1205 | 60 |
 * | VALUE_TOO_LONG | — | 22001 | 1406 | 8152, 2628 | 12899 |
 * | UNSTORABLE_CHARACTER | — | 22021 (e.g. NUL), 22P05 | 1366 | — | — |
 *
 * SQL Server reports a foreign key and a CHECK constraint with the same 547, which only the
 * message tells apart, so 547 is left unclassified. SQLite keeps any length and any character and
 * has one writer at a time, so it never produces the last three.
 *
 * mysql2 names MariaDB's 4025 (CHECK failed) after an unrelated MySQL error, hence `errno`, not
 * `code`, for MySQL.
 */
export type DbErrorKind =
  | 'UNIQUE_VIOLATION'
  | 'FOREIGN_KEY_VIOLATION'
  | 'CHECK_VIOLATION'
  | 'DEADLOCK'
  | 'VALUE_TOO_LONG'
  | 'UNSTORABLE_CHARACTER';

/** A value the database cannot store: the request carried it, so it is bad input (see src/http/errors.ts). */
export type StoredValueProblem = Extract<DbErrorKind, 'VALUE_TOO_LONG' | 'UNSTORABLE_CHARACTER'>;

const SQLITE: Record<string, DbErrorKind> = {
  SQLITE_CONSTRAINT_UNIQUE: 'UNIQUE_VIOLATION',
  SQLITE_CONSTRAINT_PRIMARYKEY: 'UNIQUE_VIOLATION',
  SQLITE_CONSTRAINT_FOREIGNKEY: 'FOREIGN_KEY_VIOLATION',
  SQLITE_CONSTRAINT_CHECK: 'CHECK_VIOLATION',
};
const POSTGRES: Record<string, DbErrorKind> = {
  '23505': 'UNIQUE_VIOLATION',
  '23503': 'FOREIGN_KEY_VIOLATION',
  '23514': 'CHECK_VIOLATION',
  '40P01': 'DEADLOCK',
  '22001': 'VALUE_TOO_LONG',
  '22021': 'UNSTORABLE_CHARACTER',
  '22P05': 'UNSTORABLE_CHARACTER',
};
const MYSQL: Record<number, DbErrorKind> = {
  1062: 'UNIQUE_VIOLATION',
  1586: 'UNIQUE_VIOLATION',
  1452: 'FOREIGN_KEY_VIOLATION',
  1451: 'FOREIGN_KEY_VIOLATION',
  1216: 'FOREIGN_KEY_VIOLATION',
  1217: 'FOREIGN_KEY_VIOLATION',
  3819: 'CHECK_VIOLATION',
  4025: 'CHECK_VIOLATION',
  1213: 'DEADLOCK',
  1406: 'VALUE_TOO_LONG',
  1366: 'UNSTORABLE_CHARACTER',
};
const SQL_SERVER: Record<number, DbErrorKind> = {
  2627: 'UNIQUE_VIOLATION',
  2601: 'UNIQUE_VIOLATION',
  1205: 'DEADLOCK',
  8152: 'VALUE_TOO_LONG',
  2628: 'VALUE_TOO_LONG',
};
const ORACLE: Record<number, DbErrorKind> = {
  1: 'UNIQUE_VIOLATION',
  2291: 'FOREIGN_KEY_VIOLATION',
  2292: 'FOREIGN_KEY_VIOLATION',
  2290: 'CHECK_VIOLATION',
  60: 'DEADLOCK',
  12899: 'VALUE_TOO_LONG',
};

/** What a driver error means, or undefined for any other error (including non-database ones). */
export function dbErrorKind(error: unknown): DbErrorKind | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as { code?: unknown; severity?: unknown; errno?: unknown; sqlState?: unknown; number?: unknown; class?: unknown; errorNum?: unknown };
  // pg's DatabaseError: a SQLSTATE in `code`, with the server's `severity`.
  if (typeof e.code === 'string' && typeof e.severity === 'string') return POSTGRES[e.code];
  // better-sqlite3's SqliteError: the extended result code's name in `code`.
  if (typeof e.code === 'string' && e.code.startsWith('SQLITE_')) return SQLITE[e.code];
  // mysql2: the server's `errno` with its `sqlState`.
  if (typeof e.errno === 'number' && typeof e.sqlState === 'string') return MYSQL[e.errno];
  // tedious' RequestError: the server's message `number` with its severity `class`.
  if (typeof e.number === 'number' && typeof e.class === 'number') return SQL_SERVER[e.number];
  // node-oracledb: `errorNum` is the ORA- number.
  if (typeof e.errorNum === 'number') return ORACLE[e.errorNum];
  return undefined;
}

/** The key the row was written by is already taken: the insert-or-find paths read the row instead. */
export function isUniqueViolation(error: unknown): boolean {
  return dbErrorKind(error) === 'UNIQUE_VIOLATION';
}

/** The database rolled the statement's transaction back to break a deadlock: running it again is safe. */
export function isDeadlock(error: unknown): boolean {
  return dbErrorKind(error) === 'DEADLOCK';
}

/** The problem a driver error reports with a stored value, or undefined for any other error. */
export function storedValueProblem(error: unknown): StoredValueProblem | undefined {
  const kind = dbErrorKind(error);
  return kind === 'VALUE_TOO_LONG' || kind === 'UNSTORABLE_CHARACTER' ? kind : undefined;
}
