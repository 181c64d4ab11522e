import { isIP } from 'node:net';
import { z } from 'zod';
import { isJdbcUrl, JDBC_EXAMPLES, parseJdbcUrl, type JdbcTarget } from './jdbc-url';

/**
 * The one schema for `deployment.toml`. Every section has defaults, so a missing file (or an
 * empty one) yields a working embedded-SQLite, FREE-plans-only service. Objects are strict: an
 * unknown key is a start-up error, because a misspelt key silently ignored is a production outage.
 */

const nonEmpty = z.string().min(1, 'must not be empty');

/**
 * WSO2's configuration writes booleans and numbers as strings where its templates take either
 * (`required = "true"` in the monetization guide, `port = "3306"`): for the keys Meterline shares
 * with WSO2, those strings are read as the value they spell. Meterline's own keys stay typed.
 */
const wso2Boolean = z.preprocess((value) => (value === 'true' ? true : value === 'false' ? false : value), z.boolean());
const wso2Integer = <T extends z.ZodType>(schema: T) => z.preprocess((value) => (typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value), schema);

export const DATABASE_TYPES = ['sqlite', 'postgres', 'mysql', 'mssql', 'oracle'] as const;
export type DatabaseType = (typeof DATABASE_TYPES)[number];

/**
 * Proxy addresses as express's `trust proxy` takes them: an IPv4 or IPv6 address, a subnet in
 * CIDR notation (`10.0.0.0/8`, `fd00::/8`), or one of express's names for the usual ranges.
 * Checked here because express would only fail on the first request.
 */
const PROXY_NAMES = ['loopback', 'linklocal', 'uniquelocal'] as const;
const proxyAddress = z.string().refine(isProxyAddress, {
  message: `must be an IP address, a subnet such as "10.0.0.0/8", or one of ${PROXY_NAMES.join(', ')}`,
});

function isProxyAddress(value: string): boolean {
  if ((PROXY_NAMES as readonly string[]).includes(value)) return true;
  const [address = '', prefix, ...rest] = value.split('/');
  const version = isIP(address);
  if (version === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  const maxPrefix = version === 4 ? 32 : 128;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= maxPrefix;
}

const serverSchema = z
  .strictObject({
    host: nonEmpty.default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(9763),
    /**
     * Which proxies in front of Meterline to believe about the client (X-Forwarded-For) and the
     * scheme (X-Forwarded-Proto, so cookies get `Secure` behind a TLS-terminating proxy):
     * `false` none, `true` any, a number of proxy hops, or the proxies' addresses/subnets.
     */
    trust_proxy: z
      .union([z.boolean(), z.number().int().min(1).max(32), z.array(proxyAddress).min(1, 'must list at least one address')])
      .default(false),
  })
  .prefault({});

/** WSO2's `type` names that mean one of Meterline's (WSO2 writes PostgreSQL as "postgre"). */
const WSO2_DATABASE_TYPES: Readonly<Record<string, DatabaseType>> = { postgre: 'postgres', postgresql: 'postgres', mariadb: 'mysql', sqlserver: 'mssql' };

const databaseType = z.preprocess(
  (value) => (typeof value === 'string' ? (WSO2_DATABASE_TYPES[value] ?? value) : value),
  z.enum(DATABASE_TYPES, {
    error: (issue) =>
      issue.input === 'h2'
        ? 'H2 (WSO2\'s embedded default) is not supported: use "sqlite" for an embedded database, or one of "postgres" (WSO2: "postgre"), "mysql", "mssql", "oracle"'
        : `must be one of ${DATABASE_TYPES.map((t) => `"${t}"`).join(', ')} (WSO2's "postgre" is "postgres")`,
  }),
);

/** The JDBC driver classes WSO2 names in `driver`, by the `type` each belongs to. */
const JDBC_DRIVERS: Readonly<Record<string, DatabaseType>> = {
  'org.postgresql.Driver': 'postgres',
  'com.mysql.cj.jdbc.Driver': 'mysql',
  'com.mysql.jdbc.Driver': 'mysql',
  'org.mariadb.jdbc.Driver': 'mysql',
  'com.microsoft.sqlserver.jdbc.SQLServerDriver': 'mssql',
  'oracle.jdbc.OracleDriver': 'oracle',
  'oracle.jdbc.driver.OracleDriver': 'oracle',
};

const databaseSchema = z
  .strictObject({
    type: databaseType.default('sqlite'),
    /** SQLite only: the database file, relative to the working directory unless absolute. */
    filename: nonEmpty.default('data/meterline.db'),
    /**
     * Connection URL for the server databases; or give host/port/username/password/database. A
     * JDBC URL (WSO2's `jdbc:postgresql://host:port/apim_db`) is read into host, port and database.
     */
    url: nonEmpty.optional(),
    host: nonEmpty.optional(),
    port: wso2Integer(z.number().int().min(1).max(65535)).optional(),
    username: nonEmpty.optional(),
    password: z.string().optional(),
    database: nonEmpty.optional(),
    /** WSO2's spellings of `host` and `database`. */
    hostname: nonEmpty.optional(),
    name: nonEmpty.optional(),
    /** WSO2's JDBC driver class (`driverClassName` in older guides): checked against `type`, otherwise unused. */
    driver: nonEmpty.optional(),
    driverClassName: nonEmpty.optional(),
    /** Oracle: the connect string (`host:port/service`), when `url` is not used. */
    connect_string: nonEmpty.optional(),
    /** Apply pending migrations when `meterline serve` starts (turn off to migrate by hand). */
    migrate_on_start: z.boolean().default(true),
    pool: z
      .strictObject({
        min: z.number().int().min(0).default(0),
        max: z.number().int().min(1).default(10),
      })
      .prefault({}),
  })
  .superRefine((db, ctx) => {
    for (const [wso2, ours] of [['hostname', 'host'], ['name', 'database']] as const) {
      if (db[wso2] !== undefined && db[ours] !== undefined) ctx.addIssue({ code: 'custom', path: [wso2], message: `give ${ours} or ${wso2} (WSO2's spelling), not both` });
    }
    for (const key of ['driver', 'driverClassName'] as const) {
      const driverClass = db[key];
      const driverType = driverClass === undefined ? undefined : JDBC_DRIVERS[driverClass];
      if (driverType !== undefined && driverType !== db.type) ctx.addIssue({ code: 'custom', path: [key], message: `is a ${driverType} driver, but type = "${db.type}"` });
    }
    if (db.type === 'sqlite') {
      // A url with the default type would otherwise be dropped for a local SQLite file.
      if (db.url !== undefined) ctx.addIssue({ code: 'custom', path: ['type'], message: 'is "sqlite" (the default), but url is set: set type to the database the url names' });
      return;
    }
    const hasParts = db.host !== undefined || db.hostname !== undefined || db.connect_string !== undefined;
    if (db.url === undefined && !hasParts) {
      ctx.addIssue({
        code: 'custom',
        path: ['url'],
        message: `required for type "${db.type}" (or give host, port, username, password, database)`,
      });
    }
    const urlProblem = db.url === undefined ? undefined : databaseUrlProblem(db.type, db.url);
    if (urlProblem !== undefined) ctx.addIssue({ code: 'custom', path: ['url'], message: urlProblem });
    else if (db.url !== undefined && !isJdbcUrl(db.url) && new URL(db.url).username !== '' && (db.username !== undefined || db.password !== undefined)) {
      // Two sets of credentials: one would be dropped without a word.
      ctx.addIssue({ code: 'custom', path: [db.username === undefined ? 'password' : 'username'], message: 'the url names a user too: give the credentials in one place' });
    }
  })
  .transform(({ hostname, name, driver: _driver, driverClassName: _driverClassName, ...db }) => {
    const parts = { ...db, host: db.host ?? hostname, database: db.database ?? name };
    if (db.url === undefined) return parts;
    return isJdbcUrl(db.url) ? fromJdbcUrl(parts, db.url) : { ...parts, url: withCredentials(db.url, db.username, db.password) };
  });

/**
 * A connection URL without a user, given `username`/`password` keys as WSO2 writes them beside its
 * `url`: the drivers read credentials from the URL only, so they are put there (percent-encoded).
 */
function withCredentials(url: string, username: string | undefined, password: string | undefined): string {
  if (username === undefined && password === undefined) return url;
  const parsed = new URL(url);
  if (username !== undefined) parsed.username = encodeURIComponent(username);
  if (password !== undefined) parsed.password = encodeURIComponent(password);
  return parsed.toString();
}

/**
 * `[database.apim_db]` with its JDBC URL read into the parts knex is given (`url` then unset). The
 * URL wins over host, port and database keys, as it does in WSO2; username and password keys win
 * over the URL's `user`/`password` properties, which WSO2 files rarely carry.
 */
function fromJdbcUrl<D extends { url?: string | undefined; host?: string | undefined; port?: number | undefined; database?: string | undefined; username?: string | undefined; password?: string | undefined; connect_string?: string | undefined }>(
  db: D,
  url: string,
): D {
  const parsed = parseJdbcUrl(url);
  if (!parsed.ok) throw new Error('unreachable: the JDBC URL was checked by the schema');
  const target: JdbcTarget = parsed.target;
  return {
    ...db,
    url: undefined,
    host: target.host,
    port: target.port,
    database: target.database,
    connect_string: target.connectString,
    username: db.username ?? target.username,
    password: db.password ?? target.password,
  };
}

/**
 * The `url` schemes each server database accepts, and its default port. knex hands a postgres URL
 * to pg and splits any other into host, port, user, password and database without looking at the
 * scheme, and a string that is not a URL at all becomes "localhost" with every default: so both
 * are checked here rather than discovered as a connection to the wrong place.
 */
export const SERVER_DATABASES: Record<Exclude<DatabaseType, 'sqlite'>, { schemes: readonly string[]; defaultPort: number }> = {
  postgres: { schemes: ['postgres', 'postgresql'], defaultPort: 5432 },
  mysql: { schemes: ['mysql', 'mariadb'], defaultPort: 3306 },
  mssql: { schemes: ['mssql'], defaultPort: 1433 },
  oracle: { schemes: ['oracle'], defaultPort: 1521 },
};

/** Why `url` cannot be used for `type`, or undefined. Never quotes the URL: it may hold a password. */
function databaseUrlProblem(type: Exclude<DatabaseType, 'sqlite'>, url: string): string | undefined {
  if (isJdbcUrl(url)) {
    const parsed = parseJdbcUrl(url);
    if (!parsed.ok) return parsed.problem;
    if (parsed.target.type !== type) return `is a JDBC URL for ${parsed.target.type}, which does not match type = "${type}" (as in ${JDBC_EXAMPLES[type]})`;
    return undefined;
  }
  const { schemes, defaultPort } = SERVER_DATABASES[type];
  const accepted = `accepted for type "${type}": ${schemes.map((s) => `${s}://`).join(', ')}, or a JDBC URL such as ${JDBC_EXAMPLES[type]}`;
  const example = `${schemes[0]}://user:password@host:${defaultPort}/apim_db`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `must be a URL such as ${example} (${accepted})`;
  }
  const scheme = parsed.protocol.replace(/:$/, '');
  if (!schemes.includes(scheme)) return `scheme "${scheme}://" does not match type = "${type}" (${accepted})`;
  if (parsed.hostname === '') return `must name a host, as in ${example}`;
  return undefined;
}

const jwtSchema = z
  .strictObject({
    issuer: nonEmpty.default('meterline'),
    audience: nonEmpty.default('meterline'),
    algorithm: z.enum(['HS256', 'RS256']).default('HS256'),
    /** HS256 shared secret. */
    secret: nonEmpty.optional(),
    /** RS256: PEM public key used to verify tokens. */
    public_key_file: nonEmpty.optional(),
    /** RS256: PEM private key, only needed by `meterline token` to mint local tokens. */
    private_key_file: nonEmpty.optional(),
    /** The claim naming the tenant domain; tokens without it belong to carbon.super. */
    tenant_claim: nonEmpty.default('tenant_domain'),
  })
  .superRefine((jwt, ctx) => {
    if (jwt.algorithm === 'HS256' && jwt.secret === undefined) {
      ctx.addIssue({ code: 'custom', path: ['secret'], message: 'required when algorithm = "HS256"' });
    }
    if (jwt.algorithm === 'RS256' && jwt.public_key_file === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['public_key_file'],
        message: 'required when algorithm = "RS256"',
      });
    }
  });

const additionalAttributeSchema = z.strictObject({
  name: nonEmpty,
  display_name: nonEmpty,
  required: wso2Boolean.default(false),
  description: z.string().default(''),
  default: z.string().optional(),
  hidden: wso2Boolean.default(false),
});

/** A cron expression checked for shape here; node-cron validates the fields when scheduling. */
const cronExpression = z
  .string()
  .refine((value) => value === '' || /^\s*\S+(\s+\S+){4,5}\s*$/.test(value), {
    message: 'must be a cron expression with 5 or 6 fields, or "" to disable the schedule',
  });

/**
 * `[apim.monetization.usage_publisher]`: where the usage publisher reads usage, how it paces
 * itself against the billing engine's rate limit, and how long its lease lasts. Every key has a
 * default suited to Stripe's test mode (25 requests/s). See docs/usage.md.
 */
export const usagePublisherSchema = z
  .strictObject({
    /** The usage source read when publishing: `local` (the events table) unless another is registered. */
    source: z.string().regex(/^[a-z][a-z0-9_-]*$/, 'must be a source name such as "local"').default('local'),
    /** Billing-engine calls per second across all workers (Stripe: 25/s test mode, 100/s live). */
    requests_per_second: z.number().positive().max(10_000).default(20),
    /** Subscriptions published in parallel; each subscription's windows go one at a time. */
    concurrency: z.number().int().min(1).max(256).default(8),
    /** Window length in hours: a divisor of 24. Windows are also cut at billing-period ends. */
    window_hours: z.union([1, 2, 3, 4, 6, 8, 12, 24].map((n) => z.literal(n)) as [z.ZodLiteral<number>, ...z.ZodLiteral<number>[]]).default(1),
    /** The lease a running job holds on the database; renewed every third of it while running. */
    lease_seconds: z.number().int().min(1).max(3600).default(60),
    /**
     * No longer used, still accepted so existing files load: the engine is the one layer that
     * retries its calls (its own options); a record it could not send waits for the next job.
     */
    retries: z.number().int().min(0).max(20).default(3),
    /** No longer used, like `retries`. */
    retry_delay_ms: z.number().int().min(0).max(60_000).default(1_000),
    /**
     * `scheduled` (default): jobs run on `usage_publish_cron` and after each billing period end.
     * `continuous`: `meterline serve` runs a job every `interval_seconds` (the next starts at
     * once when one took longer), so usage reaches the engine within about two intervals plus
     * the sending time; the cron and period-end runs are then not needed and not scheduled.
     */
    mode: z.enum(['scheduled', 'continuous']).default('scheduled'),
    /** Continuous mode: seconds from one job's start to the next one's. */
    interval_seconds: z.number().int().min(1).max(3600).default(10),
    /**
     * Send many windows per engine request where the engine offers it (Stripe: the v2 meter event
     * stream, 100 events a request; docs/usage-continuous.md), still `requests_per_second` requests
     * at most; at least 100 subscriptions are then published in parallel to fill the requests.
     * Off: one request per window. An engine without batches sends one by one either way.
     */
    send_in_batches: z.boolean().default(false),
    /** Ingestion: how long a subscription's billability is cached (ms). */
    lookup_cache_ms: z.number().int().min(0).max(600_000).default(5_000),
    /**
     * A WSO2 gateway's ELK/OpenSearch analytics log (`apim_metrics.log`), read into the event store
     * before each publish (docs/usage.md "Usage from a WSO2 gateway's analytics log").
     */
    wso2_analytics_log: z.strictObject({ path: z.string().min(1) }).optional(),
    /**
     * A gateway's usage spool (`spoolUsageSink({ directory })`), read into the event store before
     * each publish (docs/usage.md "Recording a gateway's usage").
     */
    spool: z.strictObject({ directory: z.string().min(1) }).optional(),
  })
  .prefault({});

/**
 * `[apim.monetization.invoicing]`: Meterline's own invoices, for engines that only collect payment
 * (`capabilities.invoicing = 'meterline'`; docs/invoicing.md). Ignored for engines that invoice.
 */
export const invoicingSchema = z
  .strictObject({
    /**
     * Minutes after a billing period ends before its invoice is made, so usage that arrives late
     * is still counted (Axway's marketplace makes it at 2 am after the period's last day).
     */
    close_after_minutes: z.number().int().min(0).max(10_080).default(120),
    /** How often `meterline serve` looks for periods due to close and drafts to submit again (seconds). */
    check_interval_seconds: z.number().int().min(5).max(86_400).default(300),
    /** Days an issued invoice's pay link works (the engine's expiry). */
    pay_within_days: z.number().int().min(1).max(365).default(14),
  })
  .prefault({});

/**
 * `[apim.monetization.notifications.smtp]`: the SMTP server e-mail channels send through
 * (docs/notifications.md "E-mail"). Absent: e-mail channels fail without retries.
 */
const smtpSchema = z
  .strictObject({
    host: nonEmpty,
    port: z.number().int().min(1).max(65535).default(587),
    /** true: TLS from the first byte (port 465); false: plain, upgraded with STARTTLS when offered (587). */
    secure: z.boolean().default(false),
    /** Unset: no authentication. */
    user: nonEmpty.optional(),
    /** Write it as a reference, `password = "${env:SMTP_PASSWORD}"`, not in the file. */
    password: nonEmpty.optional(),
    /** The sender: `billing@example.com` or `Meterline <billing@example.com>`. */
    from: nonEmpty.refine((from) => /[^\s@<>]+@[^\s@<>]+/.test(from), { message: 'must hold an e-mail address' }),
  })
  .superRefine((smtp, ctx) => {
    if (smtp.password !== undefined && smtp.user === undefined) ctx.addIssue({ code: 'custom', path: ['user'], message: 'required when password is set' });
  });

/**
 * `[apim.monetization.notifications]`: how `meterline serve` delivers the notifications the outbox
 * holds (docs/notifications.md); the channels themselves are per tenant, over REST.
 */
export const notificationsSchema = z
  .strictObject({
    /** How often the dispatcher looks for due deliveries (seconds). */
    dispatch_interval_seconds: z.number().int().min(1).max(3_600).default(10),
    /** Attempts per delivery before it is DEAD (retried with exponential backoff: 30 s doubling, at most 1 h apart). */
    max_attempts: z.number().int().min(1).max(50).default(8),
    /** How long one send may take before it counts as a failed (retryable) attempt (seconds). */
    send_timeout_seconds: z.number().int().min(1).max(120).default(10),
    /** Days a DELIVERED delivery is kept (listed over REST) before the dispatcher deletes it; FAILED and DEAD ones stay. */
    keep_delivered_days: z.number().int().min(1).max(3_650).default(30),
    smtp: smtpSchema.optional(),
  })
  .prefault({});

/**
 * `[apim.monetization.spend]`: how often `meterline serve` evaluates the spend of subscriptions
 * with a limit (docs/spend-limits.md); a usage publish or freeze also evaluates the ones it touched.
 */
export const spendSchema = z
  .strictObject({
    /** Seconds between two evaluations of every limited subscription. */
    check_interval_seconds: z.number().int().min(1).max(86_400).default(60),
  })
  .prefault({});

/**
 * `[apim.monetization] monetization_impl`: a registered billing-engine name, or a path to a module
 * exporting one; unset, the registry's default engine (the first of the built-in engines).
 */
export const monetizationImplSchema = nonEmpty.optional();

const monetizationSchema = z
  .looseObject({
    monetization_impl: monetizationImplSchema,
    usage_publish_cron: cronExpression.default(''),
    /** `meterline reconcile` on a schedule (node-cron); empty disables it. */
    reconcile_cron: cronExpression.default(''),
    /** On the very first publish, how far back (days) to look for usage. */
    publish_duration_days: z.number().int().min(1).max(35).default(1),
    additional_attributes: z.array(additionalAttributeSchema).default([]),
    usage_publisher: usagePublisherSchema,
    invoicing: invoicingSchema,
    notifications: notificationsSchema,
    spend: spendSchema,
  })
  .superRefine((monetization, ctx) => {
    // Engine options live under [apim.monetization.<engine>] and are validated by the engine
    // itself; here we only insist that any extra key is such a table.
    const known = new Set(['monetization_impl', 'usage_publish_cron', 'reconcile_cron', 'publish_duration_days', 'additional_attributes', 'usage_publisher', 'invoicing', 'notifications', 'spend']);
    for (const [key, value] of Object.entries(monetization)) {
      if (known.has(key)) continue;
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        ctx.addIssue({ code: 'custom', path: [key], message: 'unknown key' });
      }
    }
    const names = monetization.additional_attributes.map((a) => a.name);
    const duplicate = names.find((name, i) => names.indexOf(name) !== i);
    if (duplicate !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['additional_attributes'],
        message: `attribute name "${duplicate}" appears more than once`,
      });
    }
  })
  .prefault({});

/** The keys of `[tenants.monetization_info]` the core reads; every other key is an engine's secret. */
export const CORE_MONETIZATION_INFO_KEYS: ReadonlySet<string> = new Set(['billing_engine_platform_account_key', 'hold_until_paid', 'payment_grace_period_days']);

/**
 * `[tenants.monetization_info]`: the core's keys, and the billing engine's per-tenant secrets
 * (`EngineCapabilities.tenantSecrets`, e.g. a webhook signing secret), which must be non-empty
 * strings here; which keys the running engine reads is checked when it is chosen
 * (`tenantDirectoryFrom`).
 */
const monetizationInfoSchema = z
  .looseObject({
    billing_engine_platform_account_key: nonEmpty.optional(),
    /** New subscriptions on paid plans stay ON_HOLD until their first invoice is paid. */
    hold_until_paid: z.boolean().default(false),
    /** Days a subscription keeps access after a later invoice fails or becomes uncollectible. */
    payment_grace_period_days: z.number().min(0).max(365).default(3),
  })
  .superRefine((info, ctx) => {
    for (const [key, value] of Object.entries(info)) {
      if (CORE_MONETIZATION_INFO_KEYS.has(key)) continue;
      const secret = nonEmpty.safeParse(value);
      if (!secret.success) for (const issue of secret.error.issues) ctx.addIssue({ code: 'custom', path: [key, ...issue.path], message: issue.message });
    }
  });

const tenantSchema = z.strictObject({
  domain: nonEmpty,
  id: z.number().int(),
  monetization_info: monetizationInfoSchema.prefault({}),
});

export const SUPER_TENANT = { domain: 'carbon.super', id: -1234 } as const;

const tenantsSchema = z
  .array(tenantSchema)
  .default([])
  .superRefine((tenants, ctx) => {
    const seenDomains = new Set<string>();
    const seenIds = new Set<number>();
    tenants.forEach((tenant, index) => {
      if (seenDomains.has(tenant.domain)) {
        ctx.addIssue({ code: 'custom', path: [index, 'domain'], message: `duplicate tenant domain "${tenant.domain}"` });
      }
      if (seenIds.has(tenant.id)) {
        ctx.addIssue({ code: 'custom', path: [index, 'id'], message: `duplicate tenant id ${tenant.id}` });
      }
      seenDomains.add(tenant.domain);
      seenIds.add(tenant.id);
    });
  });

export const configSchema = z.strictObject({
  server: serverSchema,
  database: z.strictObject({ apim_db: databaseSchema.prefault({}) }).prefault({}),
  auth: z.strictObject({ jwt: jwtSchema.optional() }).prefault({}),
  apim: z.strictObject({ monetization: monetizationSchema }).prefault({}),
  logging: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    })
    .prefault({}),
  tenants: tenantsSchema,
});

export type MeterlineConfig = z.infer<typeof configSchema>;
export type DatabaseConfig = MeterlineConfig['database']['apim_db'];
export type JwtConfig = NonNullable<MeterlineConfig['auth']['jwt']>;
export type MonetizationConfig = MeterlineConfig['apim']['monetization'];
export type UsagePublisherConfig = MonetizationConfig['usage_publisher'];
export type InvoicingConfig = MonetizationConfig['invoicing'];
export type NotificationsConfig = MonetizationConfig['notifications'];
export type AdditionalAttribute = MonetizationConfig['additional_attributes'][number];
export type TenantConfig = MeterlineConfig['tenants'][number];
