/**
 * WSO2's `[database.apim_db] url` is a JDBC URL, which no Node driver reads: knex would split
 * `jdbc:postgresql://db:58432/apim_db` into nothing it understands and connect to localhost:5432.
 * So a JDBC URL is parsed here into the host, port and database it names (Oracle: a connect
 * string), or refused with the reason: never passed on, never guessed.
 *
 * What is read, per JDBC driver (each driver's documented URL syntax):
 * - `jdbc:postgresql://host[:port]/database[?user=&password=]` (pgJDBC)
 * - `jdbc:mysql://host[:port]/database[?...]`, `jdbc:mariadb://...` (Connector/J, MariaDB Connector/J)
 * - `jdbc:sqlserver://host[:port][;databaseName=x][;user=..;password=..]` (Microsoft JDBC Driver)
 * - `jdbc:oracle:thin:@host:port/service`, `@//host:port/service`, `@host:port:SID`, `@(DESCRIPTION=...)`
 * Driver properties that change where or how securely Meterline would connect (several hosts,
 * a named SQL Server instance, PostgreSQL's `currentSchema`, TLS) are refused, since they cannot
 * be honoured the JDBC way; every other property (`useSSL=false`, `autoReconnect`, ...) only tunes
 * the Java driver and is left unused.
 */

export type JdbcDatabaseType = 'postgres' | 'mysql' | 'mssql' | 'oracle';

/** Where a JDBC URL points, in `[database.apim_db]`'s own terms. */
export interface JdbcTarget {
  /** The `type` the URL's driver belongs to (`jdbc:mariadb:` is `mysql`). */
  type: JdbcDatabaseType;
  host?: string;
  port?: number;
  database?: string;
  /** Oracle only: what node-oracledb takes as `connectString`. */
  connectString?: string;
  /** Credentials given as URL properties (`?user=`), used when `username`/`password` are not set. */
  username?: string;
  password?: string;
}

export type JdbcParse = { ok: true; target: JdbcTarget } | { ok: false; problem: string };

export function isJdbcUrl(url: string): boolean {
  return /^jdbc:/i.test(url);
}

/** The JDBC URL schemes a `type` takes, for messages. */
export const JDBC_EXAMPLES: Record<JdbcDatabaseType, string> = {
  postgres: 'jdbc:postgresql://host:5432/apim_db',
  mysql: 'jdbc:mysql://host:3306/apim_db (or jdbc:mariadb:)',
  mssql: 'jdbc:sqlserver://host:1433;databaseName=apim_db',
  oracle: 'jdbc:oracle:thin:@host:1521/service (or :SID)',
};

const SUPPORTED = 'jdbc:postgresql:, jdbc:mysql:, jdbc:mariadb:, jdbc:sqlserver:, jdbc:oracle:thin:';

/** Parses a JDBC URL. Problems never quote the URL: it may hold a password. */
export function parseJdbcUrl(url: string): JdbcParse {
  const match = /^jdbc:([a-z0-9]+):(.*)$/is.exec(url);
  if (match === null) return fail(`is not a JDBC URL Meterline reads (accepted: ${SUPPORTED})`);
  const subprotocol = (match[1] ?? '').toLowerCase();
  const rest = match[2] ?? '';
  switch (subprotocol) {
    case 'postgresql':
      return hostPortDatabase('postgres', rest, postgresProperties);
    case 'mysql':
    case 'mariadb':
      return hostPortDatabase('mysql', rest, mysqlProperties);
    case 'sqlserver':
      return sqlServer(rest);
    case 'oracle':
      return oracle(rest);
    case 'h2':
      return fail('names an H2 database, which Meterline does not support (WSO2\'s embedded default): use type = "sqlite" for an embedded database, or a PostgreSQL, MySQL/MariaDB, SQL Server or Oracle URL');
    default:
      return fail(`uses the JDBC driver "jdbc:${subprotocol}:", which Meterline does not support (accepted: ${SUPPORTED})`);
  }
}

type PropertyCheck = (properties: URLSearchParams) => string | undefined;

/** `//host[:port]/database[?properties]`, the form pgJDBC and Connector/J share. */
function hostPortDatabase(type: 'postgres' | 'mysql', rest: string, check: PropertyCheck): JdbcParse {
  const example = JDBC_EXAMPLES[type];
  if (!rest.startsWith('//')) return fail(`must name a host, as in ${example}`);
  const authority = rest.slice(2).split(/[/?]/, 1)[0] ?? '';
  if (authority.includes(',')) return fail('lists several hosts (failover or load balancing), which Meterline cannot honour: name one host');
  if (authority.includes('@')) return fail('holds credentials before the host, which JDBC does not read: give username and password as keys');
  let parsed: URL;
  try {
    // A scheme without default ports, so ":80" or ":443" is kept as written.
    parsed = new URL(`jdbc-target:${rest}`);
  } catch {
    return fail(`must be host, port and database, as in ${example}`);
  }
  if (parsed.hostname === '') return fail(`must name a host, as in ${example}`);
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (database === '' || database.includes('/')) return fail(`must name the database, as in ${example}`);
  const problem = check(parsed.searchParams);
  if (problem !== undefined) return fail(problem);
  return ok({
    type,
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    ...(parsed.port === '' ? {} : { port: Number(parsed.port) }),
    database,
    ...credentials(parsed.searchParams.get('user') ?? undefined, parsed.searchParams.get('password') ?? undefined),
  });
}

/** pgJDBC: `sslmode`/`ssl` and `currentSchema` change what is reached; the rest tunes the driver. */
const postgresProperties: PropertyCheck = (properties) => {
  const sslmode = properties.get('sslmode')?.toLowerCase();
  const ssl = properties.get('ssl')?.toLowerCase();
  if ((sslmode !== undefined && sslmode !== 'disable' && sslmode !== 'allow' && sslmode !== 'prefer') || (ssl !== undefined && ssl !== 'false')) {
    return 'asks for TLS, which a JDBC URL cannot carry over: write it as postgres://user:password@host:port/database?sslmode=...';
  }
  if (properties.has('currentSchema')) return 'sets currentSchema, which Meterline cannot honour: Meterline uses the database user\'s default schema';
  return undefined;
};

/** Connector/J: TLS switches; the rest tunes the driver. */
const mysqlProperties: PropertyCheck = (properties) => {
  const asks = (key: string, off: string[]) => {
    const value = [...properties].find(([name]) => name.toLowerCase() === key.toLowerCase())?.[1].toLowerCase();
    return value !== undefined && !off.includes(value);
  };
  if (asks('useSSL', ['false']) || asks('requireSSL', ['false']) || asks('sslMode', ['disabled', 'preferred'])) {
    return 'asks for TLS, which a JDBC URL cannot carry over: write it as mysql://user:password@host:port/database with the ssl options your driver needs';
  }
  return undefined;
};

/** `jdbc:sqlserver://[host][\instance][:port][;name=value...]`; property names are case-insensitive. */
function sqlServer(rest: string): JdbcParse {
  const example = JDBC_EXAMPLES.mssql;
  if (!rest.startsWith('//')) return fail(`must start with "//", as in ${example}`);
  const [server = '', ...pairs] = rest.slice(2).split(';');
  const properties = new Map<string, string>();
  for (const pair of pairs.filter((p) => p.trim() !== '')) {
    const at = pair.indexOf('=');
    if (at < 0) return fail(`has a property without "=", as in ${example}`);
    properties.set(pair.slice(0, at).trim().toLowerCase(), pair.slice(at + 1).trim());
  }
  const serverMatch = /^([^\\:]*)(?:\\([^:]*))?(?::(.*))?$/.exec(server);
  const host = properties.get('servername') ?? serverMatch?.[1] ?? '';
  const instance = properties.get('instancename') ?? serverMatch?.[2];
  const portText = properties.get('portnumber') ?? properties.get('port') ?? serverMatch?.[3];
  if (host === '') return fail(`must name a host, as in ${example}`);
  if (instance !== undefined) return fail('names a SQL Server instance, which Meterline does not look up: give the instance\'s port instead');
  if (properties.has('failoverpartner')) return fail('names a failover partner, which Meterline cannot honour: name one server');
  const database = properties.get('databasename') ?? properties.get('database');
  if (database === undefined || database === '') return fail(`must name the database, as in ${example}`);
  const port = portText === undefined || portText === '' ? undefined : parsePort(portText);
  if (port === null) return fail(`has a port that is not a number from 1 to 65535, as in ${example}`);
  return ok({
    type: 'mssql',
    host,
    ...(port === undefined ? {} : { port }),
    database,
    ...credentials(properties.get('user') ?? properties.get('username'), properties.get('password')),
  });
}

/** `jdbc:oracle:thin:[user/password]@target`: a service name, a SID or a TNS descriptor. */
function oracle(rest: string): JdbcParse {
  const example = JDBC_EXAMPLES.oracle;
  const match = /^thin:(?:([^/@]+)\/([^@]*))?@(.+)$/is.exec(rest);
  if (match === null) return fail(`must be a thin-driver URL, as in ${example}`);
  const [, user, password, target = ''] = match;
  const found = credentials(user, password);
  if (target.startsWith('(')) return ok({ type: 'oracle', connectString: target, ...found });
  const service = /^(?:\/\/)?([^:/]+):(\d+)\/(.+)$/.exec(target);
  if (service !== null) {
    const [, host = '', portText = '', name = ''] = service;
    const port = parsePort(portText);
    if (port === null) return fail(`has a port that is not a number from 1 to 65535, as in ${example}`);
    return ok({ type: 'oracle', host, port, database: name, connectString: `${host}:${port}/${name}`, ...found });
  }
  const sid = /^([^:/]+):(\d+):([^:/]+)$/.exec(target);
  if (sid !== null) {
    const [, host = '', portText = '', name = ''] = sid;
    const port = parsePort(portText);
    if (port === null) return fail(`has a port that is not a number from 1 to 65535, as in ${example}`);
    // node-oracledb's Easy Connect takes service names only; a SID needs a descriptor.
    const connectString = `(DESCRIPTION=(ADDRESS=(PROTOCOL=TCP)(HOST=${host})(PORT=${port}))(CONNECT_DATA=(SID=${name})))`;
    return ok({ type: 'oracle', host, port, database: name, connectString, ...found });
  }
  return fail(`must name host, port and service or SID, as in ${example}`);
}

function parsePort(text: string): number | null {
  if (!/^\d{1,5}$/.test(text)) return null;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : null;
}

function credentials(username: string | undefined, password: string | undefined): Pick<JdbcTarget, 'username' | 'password'> {
  return { ...(username ? { username } : {}), ...(password !== undefined ? { password } : {}) };
}

function ok(target: JdbcTarget): JdbcParse {
  return { ok: true, target };
}

function fail(problem: string): JdbcParse {
  return { ok: false, problem };
}
