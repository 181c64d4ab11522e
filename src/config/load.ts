import { existsSync, readFileSync } from 'node:fs';
import { parse as parseToml, TomlError } from 'smol-toml';
import type { z } from 'zod';
import { resolveEnvReferences } from './env-references';
import { ConfigError } from './errors';
import { configSchema, SUPER_TENANT, type MeterlineConfig } from './schema';

export const DEFAULT_CONFIG_PATH = 'config/deployment.toml';

/** Which file to read: the `--config` flag, else `METERLINE_CONFIG`, else the default path. */
export function configPathFrom(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return flag ?? env.METERLINE_CONFIG ?? DEFAULT_CONFIG_PATH;
}

export interface LoadedConfig {
  config: MeterlineConfig;
  /** The file read, or undefined when it did not exist and defaults were used. */
  path: string | undefined;
}

/**
 * Reads and validates the deployment configuration. A missing file at the default path means
 * all defaults; a missing file that was asked for explicitly is an error.
 */
export function loadConfig(path: string, env: NodeJS.ProcessEnv, options: { mustExist: boolean }): LoadedConfig {
  if (!existsSync(path)) {
    if (options.mustExist) throw new ConfigError(path, ['file not found']);
    return { config: parseConfig({}, env, '(defaults)'), path: undefined };
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
  return { config: parseConfig(document, env, path), path };
}

/** Validates an already-parsed document (used by tests and by `loadConfig`). */
export function parseConfig(document: unknown, env: NodeJS.ProcessEnv, source: string): MeterlineConfig {
  const resolved = resolveEnvReferences(document, env, source);
  const result = configSchema.safeParse(resolved);
  if (!result.success) throw new ConfigError(source, result.error.issues.map(describeIssue));
  return withSuperTenant(result.data);
}

/** The super tenant always exists, as in WSO2, even when the file lists no tenants. */
function withSuperTenant(config: MeterlineConfig): MeterlineConfig {
  if (config.tenants.some((t) => t.domain === SUPER_TENANT.domain)) return config;
  return {
    ...config,
    tenants: [{ ...SUPER_TENANT, monetization_info: { hold_until_paid: false, payment_grace_period_days: 3 } }, ...config.tenants],
  };
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
  if (issue.code === 'unrecognized_keys') {
    const base = path ? `${path}.` : '';
    return issue.keys.map((key) => `${base}${key}: unknown key`).join('; ');
  }
  return `${path || '(root)'}: ${issue.message}`;
}

function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}
