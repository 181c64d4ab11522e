import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs on stdout. Logs never hold secrets nor the values a request bound into
 * SQL; three layers, because code must not log them but a mistake must not leak them either:
 *
 * - errors under `err`, `error`, `failure` or `cause` are serialized by `safeError`: the driver's
 *   codes (`code`, `errno`, `sqlState`, ...) and a message without knex's SQL prefix and without
 *   quoted values, never `sql`, `bindings`, `parameters`, `detail` or the stack;
 * - known secret fields (authorization and cookie headers, tokens, keys, passwords, and the
 *   billing engine's per-tenant secrets, `secretFields`) are redacted, and a URL's password is
 *   masked wherever a `url` or `connection` is logged;
 * - every line written is scrubbed of anything shaped like a bearer token, a JWT, a Stripe key
 *   (`sk_`, `rk_`, `pk_`, `whsec_`) or a URL's password.
 */
export function createLogger(level: string, destination?: pino.DestinationStream, options: LoggerOptions = {}): Logger {
  const secretFields = options.secretFields ?? [];
  return pino(
    {
      level,
      base: { service: 'meterline' },
      serializers: { err: safeError, error: safeError, failure: safeError, cause: safeError },
      redact: { paths: [...REDACTED_PATHS, ...secretFields.flatMap((field) => [field, `*.${field}`])], censor: censorValue },
      hooks: { streamWrite: scrubSecrets },
    },
    destination,
  );
}

export interface LoggerOptions {
  /**
   * More field names to redact wherever they appear (at the top or one level down): the billing
   * engine's per-tenant secrets, `EngineCapabilities.tenantSecrets` keys.
   */
  secretFields?: readonly string[];
}

const SECRET_FIELDS = [
  'authorization',
  'cookie',
  'token',
  'accessToken',
  'secret',
  'password',
  'apiKey',
  'api_key',
  'billing_engine_platform_account_key',
  'private_key',
];
const URL_FIELDS = ['url', 'connection'];
const REDACTED_PATHS = [
  ...['req.headers', 'headers', '*.headers'].flatMap((at) => ['.authorization', '.cookie', '["set-cookie"]'].map((field) => `${at}${field}`)),
  ...[...SECRET_FIELDS, ...URL_FIELDS].flatMap((field) => [field, `*.${field}`]),
];

/** URLs keep everything but their password; every other redacted field is replaced whole. */
function censorValue(value: unknown, path: string[]): unknown {
  if (URL_FIELDS.includes(path[path.length - 1] ?? '')) return typeof value === 'string' ? maskUrlPasswords(value) : '[redacted]';
  return '[redacted]';
}

const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s"\\]*:)[^@/\s"\\]+@/gi;
const maskUrlPasswords = (text: string) => text.replace(URL_PASSWORD, '$1[redacted]@');

/**
 * Secrets by their shape. Each pattern matches only characters that JSON leaves unescaped, so
 * replacing them in a written line keeps it valid JSON.
 */
const SECRET_SHAPES: readonly RegExp[] = [
  /\b(?:sk|rk|pk)_(?:test|live)_[A-Za-z0-9_]+/g,
  /\bwhsec_[A-Za-z0-9_+/=]+/g,
  /\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g,
  /\b(Bearer )[A-Za-z0-9._~+/=-]+/gi,
];

/** Masks anything shaped like a secret in a text (a whole log line, or a message). */
export function scrubSecrets(text: string): string {
  let scrubbed = maskUrlPasswords(text);
  for (const shape of SECRET_SHAPES) scrubbed = scrubbed.replace(shape, (match, bearer?: unknown) => (typeof bearer === 'string' ? `${bearer}[redacted]` : '[redacted]'));
  return scrubbed;
}

/** Fields of driver and SDK errors that identify a failure without carrying data. */
const KEPT_FIELDS = ['code', 'errno', 'sqlState', 'severity', 'constraint', 'table', 'column', 'number', 'errorNum', 'status', 'statusCode', 'requestId', 'param', 'retryable', 'reason'] as const;

/**
 * An error as it may be logged: its name, a message without SQL or bound values, and the fields
 * that identify it. A string is treated as a message; anything else that is not an object passes.
 */
export function safeError(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return safeMessage(value, false);
  if (typeof value !== 'object' || value === null) return value;
  const error = value as Record<string, unknown>;
  const database = isDatabaseError(error);
  const safe: Record<string, unknown> = {
    type: value instanceof Error ? value.constructor.name : typeof error.name === 'string' ? error.name : 'Object',
    message: typeof error.message === 'string' ? safeMessage(error.message, database) : '',
  };
  for (const field of KEPT_FIELDS) {
    const kept = error[field];
    if (typeof kept === 'string' || typeof kept === 'number' || typeof kept === 'boolean') safe[field] = kept;
  }
  if (error.cause !== undefined && depth < 3) safe.cause = safeError(error.cause, depth + 1);
  return safe;
}

/**
 * knex prefixes a driver's message with the statement (`insert into ... - value too long`);
 * with `compileSqlOnError: false` (src/db/knex-config.ts) it holds placeholders, not values,
 * but it is dropped anyway. Drivers quote the offending value in some messages (MySQL's
 * "Duplicate entry 'x' for key 'k'", PostgreSQL's `invalid input syntax for type integer: "x"`):
 * quoted text is masked unless it names a column, key, constraint, table or type (MySQL's
 * backquotes always hold identifiers and stay).
 */
function safeMessage(message: string, database: boolean): string {
  const knexPrefix = KNEX_STATEMENT.exec(message);
  const driverMessage = knexPrefix ? message.slice(knexPrefix[0].length) : message;
  const text = knexPrefix || database ? maskQuotedValues(driverMessage) : driverMessage;
  return scrubSecrets(text);
}

const KNEX_STATEMENT = /^\s*(?:select|insert|update|delete|with|create|alter|drop|pragma|begin|commit|rollback|savepoint|release|lock|unlock|truncate|set|show|replace|merge|call|explain)\b[\s\S]*? - /i;
const QUOTED = /(\b(?:column|key|constraint|table|index|relation|type|schema|database)\s+)?(['"])((?:(?!\2)[^\\]|\\.)*)\2/gi;

function maskQuotedValues(text: string): string {
  return text.replace(QUOTED, (match, names: string | undefined, quote: string) => (names ? match : `${quote}…${quote}`));
}

/** The driver errors of the supported databases, told apart by their shape (as src/db/errors.ts does). */
function isDatabaseError(error: Record<string, unknown>): boolean {
  return (
    (typeof error.code === 'string' && typeof error.severity === 'string') || // pg
    (typeof error.errno === 'number' && typeof error.sqlState === 'string') || // mysql2
    (typeof error.code === 'string' && error.code.startsWith('SQLITE_')) || // better-sqlite3
    (typeof error.number === 'number' && typeof error.class === 'number') || // tedious
    typeof error.errorNum === 'number' // oracledb
  );
}
