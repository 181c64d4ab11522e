/**
 * Per-endpoint param validation, Stripe style.
 *
 * Each endpoint declares a zod schema over the decoded form (all leaves are
 * strings). `parseParams` maps the first problem to Stripe's error: an unknown
 * key → `parameter_unknown`, an absent required key → `parameter_missing`, a
 * malformed value → 400 with a `parameter_invalid_*` code where Stripe has one.
 * Unknown params are checked first, as Stripe does.
 */
import { z } from 'zod';
import { isDecimalString } from '../core/decimal';
import { parameterInvalid, parameterMissing, parameterUnknown, StripeApiError } from './errors';
import { paramName } from './form';

const INTEGER = /^-?\d+$/;

export const str = () => z.string();

/** A whole number sent as a string (the SDK form-encodes numbers). */
export const int = () =>
  z
    .string()
    .regex(INTEGER, { error: 'parameter_invalid_integer' })
    .transform((v) => Number(v));

export const nonNegativeInt = () => int().pipe(z.number().min(0, { error: 'parameter_invalid_integer' }));

export const bool = () =>
  z.enum(['true', 'false'], { error: 'invalid_boolean' }).transform((v) => v === 'true');

export const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: `invalid_enum:${values.join(', ')}` });

/** A decimal string in minor units with at most 12 decimal places. */
export const decimal = () => z.string().refine(isDecimalString, { error: 'invalid_decimal' });

/** Metadata: a string map; the empty string (Stripe's "unset") clears it. */
export const metadata = () => z.union([z.literal(''), z.record(z.string(), z.string())]);

/** Turns `{ "0": a, "1": b }` (indexed form arrays) into `[a, b]`. */
function indexedToArray(value: unknown): unknown {
  if (value === undefined || Array.isArray(value)) return value;
  if (value === '') return [];
  if (typeof value !== 'object' || value === null) return value;
  const entries = Object.entries(value);
  if (!entries.every(([k]) => /^\d+$/.test(k))) return value;
  return entries.sort(([a], [b]) => Number(a) - Number(b)).map(([, v]) => v);
}

export const list = <T extends z.ZodType>(element: T) => z.preprocess(indexedToArray, z.array(element));

export const expand = () => list(z.string()).optional();

/** The pagination params every list endpoint takes. */
export const paginationShape = {
  limit: int().pipe(z.number().min(1, { error: 'invalid_limit' }).max(100, { error: 'invalid_limit' })).optional(),
  starting_after: str().optional(),
  ending_before: str().optional(),
  expand: expand(),
};

/** Stripe's range filter: `created=123` or `created[gte]=...`. */
export const rangeFilter = () =>
  z.union([
    int(),
    z.strictObject({ gt: int().optional(), gte: int().optional(), lt: int().optional(), lte: int().optional() }),
  ]);

function valueAt(root: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let node: unknown = root;
  for (const segment of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[String(segment)];
  }
  return node;
}

function describeInvalid(issue: z.core.$ZodIssue, param: string, input: unknown): StripeApiError {
  const shown = typeof input === 'string' ? input : JSON.stringify(input);
  const tag = issue.message;
  if (tag === 'parameter_invalid_integer') {
    return parameterInvalid(param, `Invalid integer: ${shown}`, 'parameter_invalid_integer');
  }
  if (tag === 'invalid_boolean') return parameterInvalid(param, `Invalid boolean: ${shown}`);
  if (tag === 'invalid_decimal') return parameterInvalid(param, `Invalid decimal: ${shown}`);
  if (tag === 'invalid_limit') {
    return parameterInvalid(param, `This value must be between 1 and 100 (it currently is ${shown}).`);
  }
  if (tag.startsWith('invalid_enum:')) {
    return parameterInvalid(param, `Invalid ${param}: must be one of ${tag.slice('invalid_enum:'.length)}`);
  }
  if (typeof input === 'object' && input !== null) {
    return parameterInvalid(param, `Invalid ${param}: expected a value, got a hash or array.`);
  }
  if (typeof input === 'string' && issue.code === 'invalid_type') {
    return parameterInvalid(param, `Invalid object: ${param} must be a hash or array, got '${shown}'.`);
  }
  return parameterInvalid(param, `Invalid value for ${param}: ${tag}`);
}

/** Validates decoded params against an endpoint schema or throws the matching Stripe error. */
export function parseParams<S extends z.ZodType>(schema: S, raw: unknown): z.output<S> {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const issues = result.error.issues;
  const unknownKeys = issues.find((i) => i.code === 'unrecognized_keys');
  if (unknownKeys && unknownKeys.code === 'unrecognized_keys') {
    return throwError(parameterUnknown(paramName([...unknownKeys.path, unknownKeys.keys[0] ?? ''])));
  }
  const missing = issues.find((i) => i.path.length > 0 && valueAt(raw, i.path) === undefined);
  if (missing) return throwError(parameterMissing(paramName(missing.path)));
  const first = issues[0];
  if (!first) throw new Error('zod reported failure without issues');
  const param = paramName(first.path);
  throw describeInvalid(first, param, valueAt(raw, first.path));
}

function throwError(error: StripeApiError): never {
  throw error;
}

/** For rules a schema cannot express (e.g. "required when X"). */
export function requireParam<T>(value: T | undefined, param: string): T {
  if (value === undefined) throw parameterMissing(param);
  return value;
}

/** Stripe's address object (customers' and payment methods' billing details). */
export const addressShape = z.strictObject({
  city: str().optional(),
  country: str().optional(),
  line1: str().optional(),
  line2: str().optional(),
  postal_code: str().optional(),
  state: str().optional(),
});
