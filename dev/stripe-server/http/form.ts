/**
 * Decodes Stripe's form encoding into a nested object.
 *
 * The SDK flattens params as `a[b][c]=v`, arrays as `items[0][price]=...`
 * (indexed) and accepts `expand[]=...` (appended). Indexed arrays decode to
 * objects keyed "0", "1", ...; the param schemas turn those into arrays, so a
 * metadata key that happens to be numeric is not mistaken for an index.
 */
export type FormValue = string | FormObject | FormValue[];
export interface FormObject {
  [key: string]: FormValue;
}

const KEY_PATTERN = /^([^[\]]+)((?:\[[^[\]]*\])*)$/;

function keyPath(rawKey: string): string[] | null {
  const match = KEY_PATTERN.exec(rawKey);
  if (!match || match[1] === undefined) return null;
  const segments = [match[1]];
  const rest = match[2] ?? '';
  for (const part of rest.matchAll(/\[([^[\]]*)\]/g)) segments.push(part[1] ?? '');
  return segments;
}

function assign(root: FormObject, path: string[], value: string, rawKey: string): void {
  let node: FormObject | FormValue[] = root;
  for (let i = 0; i < path.length; i++) {
    const segment = path[i] ?? '';
    const last = i === path.length - 1;
    if (Array.isArray(node)) {
      if (segment !== '') throw new FormDecodeError(rawKey);
      if (last) {
        node.push(value);
        return;
      }
      const child: FormObject = {};
      node.push(child);
      node = child;
      continue;
    }
    if (last) {
      node[segment] = value;
      return;
    }
    let child: FormValue | undefined = node[segment];
    if (child === undefined || typeof child === 'string') {
      child = path[i + 1] === '' ? [] : {};
      node[segment] = child;
    }
    node = child;
  }
}

export class FormDecodeError extends Error {
  constructor(readonly key: string) {
    super(`Invalid form key: ${key}`);
  }
}

/** Decodes a urlencoded string (body or query string without the `?`). */
export function decodeForm(encoded: string): FormObject {
  const result: FormObject = {};
  for (const [rawKey, value] of new URLSearchParams(encoded)) {
    const path = keyPath(rawKey);
    if (!path) throw new FormDecodeError(rawKey);
    assign(result, path, value, rawKey);
  }
  return result;
}

/** Stripe's way to name a nested param in errors: `items[0][price]`. */
export function paramName(path: ReadonlyArray<PropertyKey>): string {
  const [head, ...rest] = path;
  return `${String(head ?? '')}${rest.map((p) => `[${String(p)}]`).join('')}`;
}
