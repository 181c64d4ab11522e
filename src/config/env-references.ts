import { ConfigError } from './errors';

const REFERENCE = /\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g;

/**
 * Replaces `${env:NAME}` in every string of a parsed TOML document with the variable's value,
 * so secrets stay out of the file. Every missing variable is reported, each with the key using it.
 */
export function resolveEnvReferences(
  document: unknown,
  env: NodeJS.ProcessEnv,
  source: string,
): unknown {
  const problems: string[] = [];

  const visit = (value: unknown, path: string): unknown => {
    if (typeof value === 'string') {
      return value.replace(REFERENCE, (_match, name: string) => {
        const resolved = env[name];
        if (resolved === undefined) {
          problems.push(`${path}: environment variable ${name} is not set (referenced as \${env:${name}})`);
          return '';
        }
        return resolved;
      });
    }
    if (Array.isArray(value)) return value.map((item, i) => visit(item, `${path}[${i}]`));
    if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
      return Object.fromEntries(
        Object.entries(value).map(([key, item]) => [key, visit(item, path ? `${path}.${key}` : key)]),
      );
    }
    return value;
  };

  const resolved = visit(document, '');
  if (problems.length > 0) throw new ConfigError(source, problems);
  return resolved;
}
