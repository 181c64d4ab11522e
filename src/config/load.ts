import { existsSync, readFileSync } from 'node:fs';
import { parse as parseToml, TomlError } from 'smol-toml';
import { z } from 'zod';
import { resolveEnvReferences, unsetReferencesIn, type KeyPath, type UnsetReference } from './env-references';
import { fieldName, fieldProblems } from '../validation/issues';
import { ConfigError } from './errors';
import { configSchema, monetizationImplSchema, SUPER_TENANT, type MeterlineConfig, type TenantConfig } from './schema';
import { setAsideWso2Settings } from './wso2-settings';

/** Where the configuration is looked for when neither `--config` nor `METERLINE_CONFIG` names it, in order. */
export const DEFAULT_CONFIG_PATHS = ['deployment.toml', 'config/deployment.toml'] as const;

/** The file chosen; `path` is undefined when no default file exists and all defaults apply. */
export type ConfigFile =
  | { path: string; chosenBy: '--config' | 'METERLINE_CONFIG' | 'default' }
  | { path: undefined; chosenBy: 'default' };

/**
 * The one discovery order: `--config`, else `METERLINE_CONFIG`, else the first of
 * `DEFAULT_CONFIG_PATHS` that exists (relative to the working directory), else none.
 */
export function findConfigFile(flag: string | undefined, env: NodeJS.ProcessEnv, exists: (path: string) => boolean = existsSync): ConfigFile {
  if (flag !== undefined) return { path: flag, chosenBy: '--config' };
  if (env.METERLINE_CONFIG !== undefined) return { path: env.METERLINE_CONFIG, chosenBy: 'METERLINE_CONFIG' };
  const found = DEFAULT_CONFIG_PATHS.find((path) => exists(path));
  return found === undefined ? { path: undefined, chosenBy: 'default' } : { path: found, chosenBy: 'default' };
}

/** For messages: the file as named, or which defaults were looked for. */
export function describeConfigFile(file: ConfigFile): string {
  return file.path ?? `(defaults: ${DEFAULT_CONFIG_PATHS.map((path) => `no ${path}`).join(', ')})`;
}

/**
 * What a command reads from the configuration. Only those keys' `${env:...}` references must be
 * set, and only those keys are returned, so a key whose variable is unset cannot be used by
 * mistake: `database` (migrate) is `[database.*]`, `[logging]` and `monetization_impl` (a billing
 * engine loaded from a module may ship migrations); `token` is `[auth.jwt]`,
 * `[logging]` and the tenants' domains and ids; `all` (serve, publish-usage) is everything.
 */
export type ConfigNeeds = 'database' | 'token' | 'all';

export type DatabaseCommandConfig = Pick<MeterlineConfig, 'database' | 'logging'> & {
  apim: { monetization: { monetization_impl?: string | undefined } };
};
export type TokenCommandConfig = Pick<MeterlineConfig, 'auth' | 'logging'> & { tenants: Array<Pick<TenantConfig, 'domain' | 'id'>> };

export interface ConfigFor {
  database: DatabaseCommandConfig;
  token: TokenCommandConfig;
  all: MeterlineConfig;
}

export interface LoadedConfig<C = MeterlineConfig> {
  config: C;
  /** The file read, or undefined when it did not exist and defaults were used. */
  path: string | undefined;
  /**
   * WSO2 API-M settings the file holds that Meterline does not use (`src/config/wso2-settings.ts`),
   * as key paths: the command reports them in one line (`describeIgnored`).
   */
  ignored: readonly string[];
}

/**
 * Reads and validates the deployment configuration. A missing file at a default path (or no
 * path) means all defaults; a missing file that was asked for explicitly is an error.
 */
export function loadConfig<N extends ConfigNeeds = 'all'>(
  path: string | undefined,
  env: NodeJS.ProcessEnv,
  options: { mustExist: boolean; needs?: N },
): LoadedConfig<ConfigFor[N]> {
  const needs = options.needs ?? ('all' as N);
  if (path === undefined || !existsSync(path)) {
    if (options.mustExist) throw new ConfigError(path ?? '(no file)', ['file not found']);
    return { config: parseConfig({}, env, '(defaults)', needs), path: undefined, ignored: [] };
  }
  let document: unknown;
  try {
    document = parseToml(readFileSync(path, 'utf8'));
  } catch (error) {
    if (error instanceof TomlError) {
      throw new ConfigError(path, [`not valid TOML at line ${error.line}, column ${error.column}: ${firstLine(error.message)}`]);
    }
    throw error;
  }
  return { ...readConfig(document, env, path, needs), path };
}

/**
 * Validates an already-parsed document (used by tests and by `loadConfig`). The whole document is
 * checked, so a misspelt key is reported whatever the command; a variable that is not set is
 * reported only where the command reads it.
 */
export function parseConfig<N extends ConfigNeeds = 'all'>(document: unknown, env: NodeJS.ProcessEnv, source: string, needs: N = 'all' as N): ConfigFor[N] {
  return readConfig(document, env, source, needs).config;
}

/**
 * `parseConfig`, also saying which WSO2 settings were set aside. They go before `${env:...}`
 * references are resolved, so an unset variable in a setting Meterline ignores stops nothing.
 */
export function readConfig<N extends ConfigNeeds = 'all'>(
  document: unknown,
  env: NodeJS.ProcessEnv,
  source: string,
  needs: N = 'all' as N,
): { config: ConfigFor[N]; ignored: string[] } {
  const { document: meterline, ignored } = setAsideWso2Settings(document);
  return { config: validate(meterline, env, source, needs), ignored };
}

function validate<N extends ConfigNeeds>(document: unknown, env: NodeJS.ProcessEnv, source: string, needs: N): ConfigFor[N] {
  const resolved = resolveEnvReferences(document, env);
  const view = VIEWS[needs];
  const needed = view.select(resolved);
  const unset = unsetReferencesIn(resolved);
  const whole = configSchema.safeParse(resolved);
  // The schema's own complaint about an unset reference ("expected string") says less than ours.
  const issues = whole.success ? [] : whole.error.issues.filter((issue) => !unset.some((u) => startsWith(issue.path, u.path)));
  const problems = [...unsetReferencesIn(needed).flatMap(describeUnset), ...describeIssues(issues)];
  if (problems.length > 0) throw new ConfigError(source, problems);
  const result = view.parse(needed);
  if (!result.success) throw new ConfigError(source, describeIssues(result.error.issues));
  return result.data;
}

type ParseResult<C> = { success: true; data: C } | { success: false; error: z.ZodError };

interface CommandView<C> {
  /** The part of the resolved document the command reads, at the same key paths. */
  select(document: unknown): unknown;
  parse(selected: unknown): ParseResult<C>;
}

const databaseViewSchema = configSchema.pick({ database: true, logging: true }).extend({
  apim: z.object({ monetization: z.object({ monetization_impl: monetizationImplSchema }).prefault({}) }).prefault({}),
});
const tokenViewSchema = configSchema.pick({ auth: true, logging: true, tenants: true });

const VIEWS: { [N in ConfigNeeds]: CommandView<ConfigFor[N]> } = {
  all: {
    select: (document) => document,
    parse: (selected) => mapData(configSchema.safeParse(selected), withSuperTenant),
  },
  database: {
    select: (document) => {
      const monetization = isTable(document) && isTable(document.apim) ? document.apim.monetization : undefined;
      const impl = isTable(monetization) ? monetization.monetization_impl : undefined;
      return { ...pick(document, ['database', 'logging']), ...(impl === undefined ? {} : { apim: { monetization: { monetization_impl: impl } } }) };
    },
    parse: (selected) => databaseViewSchema.safeParse(selected),
  },
  token: {
    select: (document) => {
      const tenants = isTable(document) ? document.tenants : undefined;
      return {
        ...pick(document, ['auth', 'logging']),
        ...(tenants === undefined ? {} : { tenants: Array.isArray(tenants) ? tenants.map((t: unknown) => pick(t, ['domain', 'id'])) : tenants }),
      };
    },
    parse: (selected) =>
      mapData(tokenViewSchema.safeParse(selected), (config) => {
        const { tenants } = withSuperTenant(config);
        return { auth: config.auth, logging: config.logging, tenants: tenants.map(({ domain, id }) => ({ domain, id })) };
      }),
  },
};

/** The super tenant always exists, as in WSO2, even when the file lists no tenants. */
function withSuperTenant<C extends { tenants: TenantConfig[] }>(config: C): C {
  if (config.tenants.some((t) => t.domain === SUPER_TENANT.domain)) return config;
  return {
    ...config,
    tenants: [{ ...SUPER_TENANT, monetization_info: { hold_until_paid: false, payment_grace_period_days: 3 } }, ...config.tenants],
  };
}

function mapData<A, B>(result: ParseResult<A>, map: (data: A) => B): ParseResult<B> {
  return result.success ? { success: true, data: map(result.data) } : result;
}

function pick(value: unknown, keys: readonly string[]): Record<string, unknown> {
  if (!isTable(value)) return {};
  return Object.fromEntries(keys.filter((key) => value[key] !== undefined).map((key) => [key, value[key]]));
}

function isTable(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function startsWith(path: readonly PropertyKey[], prefix: KeyPath): boolean {
  return prefix.length <= path.length && prefix.every((key, i) => path[i] === key);
}

function describeUnset({ path, reference }: { path: KeyPath; reference: UnsetReference }): string[] {
  return reference.variables.map((name) => `${fieldName(path, '(root)')}: environment variable ${name} is not set (referenced as \${env:${name}})`);
}

/** `tenants[0].monetization_info.billing_engine_platform_account_key: ...`, named as every field is (src/validation/issues.ts). */
function describeIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return fieldProblems(issues, { whole: '(root)', unknownKey: 'unknown key' }).map((p) => `${p.field}: ${p.message}`);
}

function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}
