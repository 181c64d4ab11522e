/** `${env:NAME}`, and WSO2's spelling `$env{NAME}`, so a WSO2 deployment.toml's references carry over. */
const REFERENCE = /\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}|\$env\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/**
 * What a string becomes when it references a variable that is not set: not an error yet, because
 * a command may not need that key (`migrate` needs no Stripe secret). Being an object, not a
 * string, it can never pass for a value: whoever validates the section it sits in must report it
 * (`unsetReferencesIn`), and the schema rejects it anywhere a string is expected.
 */
export class UnsetReference {
  constructor(
    /** The text as written in the file, e.g. `postgres://app:${env:DB_PW}@db/apim`. */
    readonly text: string,
    /** The referenced variables that are not set, in order of appearance. */
    readonly variables: readonly string[],
  ) {}
}

export type KeyPath = ReadonlyArray<string | number>;

/**
 * Replaces `${env:NAME}` in every string of a parsed TOML document with the variable's value, so
 * secrets stay out of the file. A string referencing an unset variable becomes an `UnsetReference`.
 */
export function resolveEnvReferences(document: unknown, env: NodeJS.ProcessEnv): unknown {
  if (typeof document === 'string') {
    const unset: string[] = [];
    const resolved = document.replace(REFERENCE, (_match, ours: string | undefined, wso2: string | undefined) => {
      const name = ours ?? wso2 ?? '';
      const value = env[name];
      if (value === undefined) unset.push(name);
      return value ?? '';
    });
    return unset.length > 0 ? new UnsetReference(document, unset) : resolved;
  }
  if (Array.isArray(document)) return document.map((item) => resolveEnvReferences(item, env));
  if (isTable(document)) {
    return Object.fromEntries(Object.entries(document).map(([key, item]) => [key, resolveEnvReferences(item, env)]));
  }
  return document;
}

/** Every `UnsetReference` left in (part of) a resolved document, with the key holding it. */
export function unsetReferencesIn(document: unknown, path: KeyPath = []): Array<{ path: KeyPath; reference: UnsetReference }> {
  if (document instanceof UnsetReference) return [{ path, reference: document }];
  if (Array.isArray(document)) return document.flatMap((item, i) => unsetReferencesIn(item, [...path, i]));
  if (isTable(document)) return Object.entries(document).flatMap(([key, item]) => unsetReferencesIn(item, [...path, key]));
  return [];
}

function isTable(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !(value instanceof Date) && !(value instanceof UnsetReference);
}
