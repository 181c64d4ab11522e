#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { describeConfigFile, findConfigFile, loadConfig, type ConfigFile, type DatabaseCommandConfig, type TokenCommandConfig } from '../config/load';
import { describeIgnored } from '../config/wso2-settings';
import { ConfigError } from '../config/errors';
import { EngineOptionsError } from '../monetization/monetization';
import { UnknownEngineError } from '../monetization/registry';
import { SUPER_TENANT, type DatabaseConfig, type MeterlineConfig } from '../config/schema';
import { mintToken } from '../http/auth/tokens';
import pino from 'pino';
import { publishUsageCommand } from './publish-usage';
import { reconcileCommand, reconcileUsageCommand } from './reconcile';
import { requeueTarget, usageRequeueCommand } from './usage-requeue';
import { UsageOptionsError } from '../usage/options';
import { assertDatabaseReachable, connectDatabase, DatabaseUnreachableError } from '../db/connect';
import { describeDatabase } from '../db/describe';
import { migrateLatest, PendingMigrationsError, rollbackAll } from '../db/migrator';
import { safeError } from '../logger';
import { configuredLogger, migrationsFor } from '../composition';
import { launchService } from '../service';

const USAGE = `Usage: meterline <command> [options]

Commands:
  serve               run the HTTP service
  migrate             apply pending database migrations
  migrate --down      roll every migration back (drops the tables Meterline created)
  publish-usage       publish captured usage to the billing engine, with progress (--wait: wait for a running job first)
  reconcile           list and repair what interrupted subscribes and unsubscribes left (--dry-run: list only)
  reconcile usage     compare the usage sent with what the billing engine counted and invoiced,
                      per subscription and billing period (read-only; exit 1 on a difference)
  usage requeue       publish again, once, usage the billing engine reported it could not bill
                      (ENGINE_ERROR): --record <id> or --subscription <uuid> [--json]
  token               print a bearer token for the REST API, signed with [auth.jwt]'s key
  help                show this text

Configuration: the first of these is used
  --config <file>                 must exist
  $METERLINE_CONFIG               must exist
  ./deployment.toml               in the current directory
  config/deployment.toml
  (none of them)                  every default: SQLite in data/meterline.db, port 9763
Every command but help first prints, on stderr, the file and the database it uses. A
\${env:NAME} in the file must be set when the command reads that key: migrate reads only
[database.apim_db], [logging] and monetization_impl; token reads [auth.jwt] and the tenants'
domains; serve, publish-usage and reconcile read everything.

Options:
  --config <file>     the configuration file (see above)
  --port <n>          serve: listen on this port instead of [server] port (0 picks a free one)
  --dry-run           reconcile: list what would be repaired, change nothing
  --period <p>        reconcile usage: 2026-11 (each subscription's periods ending that month, UTC),
                      2026-11-15 or 2026-11-15T10:30:00Z (the period containing that instant);
                      default: each subscription's last closed period
  --json              reconcile usage, usage requeue: print the result as JSON (as the REST route answers)
  --record <id>       usage requeue: the usage record (RECORD_ID, as the publish status lists it)
  --subscription <u>  usage requeue: every ENGINE_ERROR record of this subscription
  --sub <user>        token: the user (sub claim)
  --scope "<scopes>"  token: space-separated scopes, e.g. "apim:subscribe apim:api_view"
  --tenant <domain>   token: the tenant (default carbon.super)
  --email <address>   token: the user's email (optional)
  --expires-in <s>    token: lifetime in seconds (default 3600)
  -h, --help          show this text
`;

/** Exit codes: 0 success, 1 the command failed, 2 bad usage or configuration. */
class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      down: { type: 'boolean', default: false },
      wait: { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
      period: { type: 'string' },
      record: { type: 'string' },
      subscription: { type: 'string' },
      json: { type: 'boolean', default: false },
      port: { type: 'string' },
      sub: { type: 'string' },
      scope: { type: 'string' },
      tenant: { type: 'string' },
      email: { type: 'string' },
      'expires-in': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command = 'help', ...rest] = positionals;
  if (values.help || command === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  const usageReconcile = command === 'reconcile' && rest[0] === 'usage';
  const usageRequeue = command === 'usage' && rest[0] === 'requeue';
  if (command === 'usage' && !usageRequeue) throw new UsageError(rest[0] === undefined ? 'usage needs a subcommand: requeue' : `unknown usage subcommand "${rest[0]}"`);
  const sub = usageReconcile || usageRequeue ? 1 : 0;
  if (rest.length > sub) throw new UsageError(`unexpected argument "${rest[sub]}"`);
  if (values.period !== undefined && !usageReconcile) throw new UsageError('--period goes with "reconcile usage"');
  if (values.json && !usageReconcile && !usageRequeue) throw new UsageError('--json goes with "reconcile usage" or "usage requeue"');
  if ((values.record !== undefined || values.subscription !== undefined) && !usageRequeue) throw new UsageError(`--${values.record !== undefined ? 'record' : 'subscription'} goes with "usage requeue"`);
  const requeue = usageRequeue ? requeueTarget(values) : undefined;
  if (typeof requeue === 'string') throw new UsageError(requeue);
  if (values['dry-run'] && usageReconcile) throw new UsageError('--dry-run goes with "reconcile" (reconcile usage changes nothing)');
  if (values.down && command !== 'migrate') throw new UsageError('--down goes with "migrate"');
  if (values.port !== undefined && command !== 'serve') throw new UsageError('--port goes with "serve"');
  if (values.wait && command !== 'publish-usage') throw new UsageError('--wait goes with "publish-usage"');
  if (values['dry-run'] && command !== 'reconcile') throw new UsageError('--dry-run goes with "reconcile"');
  const port = values.port === undefined ? undefined : parsePort(values.port);
  const tokenFlags = (['sub', 'scope', 'tenant', 'email', 'expires-in'] as const).filter((flag) => values[flag] !== undefined);
  if (tokenFlags.length > 0 && command !== 'token') throw new UsageError(`--${tokenFlags[0]} goes with "token"`);

  if (!['serve', 'migrate', 'token', 'publish-usage', 'reconcile', 'usage'].includes(command)) throw new UsageError(`unknown command "${command}"`);

  const file = findConfigFile(values.config, process.env);
  const load = { mustExist: file.chosenBy !== 'default' } as const;
  switch (command) {
    case 'serve': {
      const { config, ignored } = loadConfig(file.path, process.env, { ...load, needs: 'all' });
      announce(file, ignored, config.database.apim_db);
      return serve(config, port);
    }
    case 'migrate': {
      const { config, ignored } = loadConfig(file.path, process.env, { ...load, needs: 'database' });
      announce(file, ignored, config.database.apim_db);
      return migrate(config, values.down ?? false);
    }
    case 'token': {
      const { config, ignored } = loadConfig(file.path, process.env, { ...load, needs: 'token' });
      announce(file, ignored);
      return token(config, values);
    }
    case 'usage': {
      const { config, ignored } = loadConfig(file.path, process.env, { ...load, needs: 'all' });
      announce(file, ignored, config.database.apim_db);
      return usageRequeueCommand(config, configuredLogger(config, pino.destination(2)), requeue!, { json: values.json ?? false });
    }
    case 'reconcile': {
      const { config, ignored } = loadConfig(file.path, process.env, { ...load, needs: 'all' });
      announce(file, ignored, config.database.apim_db);
      const logger = configuredLogger(config, pino.destination(2));
      if (usageReconcile) return reconcileUsageCommand(config, logger, { period: values.period, json: values.json ?? false });
      return reconcileCommand(config, logger, { dryRun: values['dry-run'] ?? false });
    }
    default: {
      const { config, ignored } = loadConfig(file.path, process.env, { ...load, needs: 'all' });
      announce(file, ignored, config.database.apim_db);
      return publishUsageCommand(config, configuredLogger(config, pino.destination(2)), { wait: values.wait ?? false });
    }
  }
}

/**
 * The first line of every command, on stderr (stdout may be captured, e.g. a token): which file
 * and which database, so a newcomer sees at once when the wrong one was picked up; then, for a
 * WSO2 deployment.toml, one line naming the WSO2 settings Meterline ignores.
 */
function announce(file: ConfigFile, ignored: readonly string[], database?: DatabaseConfig): void {
  const where = database === undefined ? '' : `; database ${describeDatabase(database)}`;
  process.stderr.write(`meterline: config ${describeConfigFile(file)}${where}\n`);
  const ignoring = describeIgnored(ignored);
  if (ignoring !== undefined) process.stderr.write(`meterline: ${ignoring}\n`);
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) throw new UsageError(`--port must be a number from 0 to 65535, got "${text}"`);
  return port;
}

/** Runs until SIGINT/SIGTERM (also while still waiting for the database), or until migrations fail. */
async function serve(config: MeterlineConfig, port: number | undefined): Promise<number> {
  const logger = configuredLogger(config);
  const service = await launchService({ config, logger, ...(port === undefined ? {} : { port }) });
  const ended = await new Promise<{ signal: NodeJS.Signals } | { failure: unknown }>((resolve) => {
    const stop = (signal: NodeJS.Signals) => resolve({ signal });
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    service.ready.catch((failure: unknown) => resolve({ failure }));
  });
  if ('signal' in ended) logger.info({ signal: ended.signal }, 'shutting down');
  await service.close();
  if ('failure' in ended) throw ended.failure;
  return 0;
}

function token(
  config: TokenCommandConfig,
  flags: { sub?: string | undefined; scope?: string | undefined; tenant?: string | undefined; email?: string | undefined; 'expires-in'?: string | undefined },
): number {
  const jwt = config.auth.jwt;
  if (!jwt) throw new UsageError('token needs [auth.jwt] in the configuration');
  if (flags.sub === undefined || flags.sub.trim() === '') throw new UsageError('token needs --sub <user>');
  if (flags.scope === undefined) throw new UsageError('token needs --scope "<space-separated scopes>"');
  if (jwt.algorithm === 'RS256' && jwt.private_key_file === undefined) {
    throw new UsageError('token with algorithm = "RS256" needs [auth.jwt] private_key_file');
  }
  const tenant = flags.tenant ?? SUPER_TENANT.domain;
  if (!config.tenants.some((t) => t.domain === tenant)) throw new UsageError(`--tenant ${tenant} is not a configured tenant ([[tenants]])`);
  let expiresIn: number | undefined;
  if (flags['expires-in'] !== undefined) {
    expiresIn = Number(flags['expires-in']);
    if (!/^\d+$/.test(flags['expires-in']) || expiresIn < 1) throw new UsageError(`--expires-in must be a whole number of seconds, got "${flags['expires-in']}"`);
  }
  const scopes = flags.scope.split(/\s+/).filter((s) => s !== '');
  const signed = mintToken(jwt, {
    subject: flags.sub,
    tenant,
    scopes,
    ...(flags.email === undefined ? {} : { email: flags.email }),
    ...(expiresIn === undefined ? {} : { expiresIn }),
  });
  process.stdout.write(`${signed}\n`);
  return 0;
}

async function migrate(config: DatabaseCommandConfig, down: boolean): Promise<number> {
  const migrations = migrationsFor(config.apim.monetization.monetization_impl);
  const db = connectDatabase(config.database.apim_db);
  try {
    await assertDatabaseReachable(db, config.database.apim_db);
    const names = down ? await rollbackAll(db, migrations) : await migrateLatest(db, migrations);
    const verb = down ? 'rolled back' : 'applied';
    if (names.length === 0) process.stdout.write(down ? 'nothing to roll back\n' : 'database is up to date\n');
    for (const name of names) process.stdout.write(`${verb} ${name}\n`);
    return 0;
  } finally {
    await db.destroy();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof ConfigError || error instanceof UsageError || error instanceof EngineOptionsError || error instanceof UsageOptionsError || error instanceof UnknownEngineError) {
      process.stderr.write(`meterline: ${error.message}\n`);
      if (error instanceof UsageError) process.stderr.write(`\n${USAGE}`);
      process.exitCode = 2;
      return;
    }
    if (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`meterline: ${error.message}\n\n${USAGE}`);
      process.exitCode = 2;
      return;
    }
    // An expected failure of the command, e.g. DatabaseUnreachableError: its message is the line.
    const line = (error instanceof DatabaseUnreachableError || error instanceof PendingMigrationsError) && !process.env.METERLINE_DEBUG ? error.message : describeFailure(error);
    process.stderr.write(`meterline: ${line}\n`);
    process.exitCode = 1;
  },
);

/** One line a person can act on; the stack only when METERLINE_DEBUG is set. */
function describeFailure(error: unknown): string {
  if (process.env.METERLINE_DEBUG && error instanceof Error && error.stack) return error.stack;
  if (error instanceof Error) {
    // As logs show it: the driver's message without the SQL statement, bound values or secrets.
    const { message } = safeError(error) as { message: string };
    const code = 'code' in error && error.code ? ` (${String(error.code)})` : '';
    return `${message}${code}`;
  }
  return String(error);
}
