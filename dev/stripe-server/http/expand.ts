import { parameterInvalid } from './errors';

/** Looks an id up for expansion; undefined when it cannot be expanded. */
export type Lookup = (id: string) => unknown;

const MAX_DEPTH = 4;

function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function expandPath(node: unknown, path: string[], lookup: Lookup, full: string): unknown {
  if (path.length === 0 || node === null || node === undefined) return node;
  if (Array.isArray(node)) return node.map((item) => expandPath(item, path, lookup, full));
  if (typeof node !== 'object') return node;
  const [field, ...rest] = path as [string, ...string[]];
  const record = node as Record<string, unknown>;
  if (!(field in record)) {
    throw parameterInvalid('expand', `This property cannot be expanded (${full}).`);
  }
  let value = record[field];
  if (typeof value === 'string') {
    const found = lookup(value);
    if (found === undefined) throw parameterInvalid('expand', `This property cannot be expanded (${full}).`);
    value = clone(found);
  }
  record[field] = expandPath(value, rest, lookup, full);
  return node;
}

/**
 * Applies Stripe's `expand[]`: each dotted path replaces an id with the object
 * it names (`latest_invoice`, `items.data.price.product`, `data.customer` on
 * lists). Works on a copy; stored objects are never modified.
 */
export function applyExpand<T>(body: T, paths: string[] | undefined, lookup: Lookup): T {
  if (!paths || paths.length === 0) return body;
  const copy = clone(body);
  for (const full of paths) {
    const segments = full.split('.');
    if (segments.filter((s) => s !== 'data').length > MAX_DEPTH) {
      throw parameterInvalid('expand', `You cannot expand more than ${MAX_DEPTH} levels of a property (${full}).`);
    }
    expandPath(copy, segments, lookup, full);
  }
  return copy;
}
