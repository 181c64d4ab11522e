import { z } from 'zod';
import { wso2Spec, type Wso2ApiName } from './wso2-specs';

/**
 * Request bodies as WSO2's clients send them: the fields Meterline uses are validated by the
 * route's own zod shape; every other field WSO2's schema defines is accepted, type-checked
 * against WSO2's schema (type, enum, lengths, nested shapes) and ignored by Meterline; a field
 * WSO2's schema does not define is refused (400 naming it), as before. The fields come from the
 * bundled WSO2 OpenAPI documents, so a client valid against WSO2's schema is never refused for
 * a field Meterline merely does not use.
 *
 * @example
 *   body: wso2Body('devportal', 'Application', { name: storedText(100).min(1), throttlingPolicy: storedText(50).min(1) })
 *   // accepts { name, throttlingPolicy, groups: ['g'], attributes: { a: 'b' } }; refuses { colour: 'red' }
 */
export function wso2Body<T extends z.ZodRawShape>(api: Wso2ApiName, schemaName: string, used: T): z.ZodObject<T, z.core.$strict> {
  const extras: Record<string, z.ZodType> = {};
  for (const [name, property] of Object.entries(wso2Properties(api, schemaName))) {
    // WSO2's JSON binding reads an explicit null as absent, and its portals send both.
    if (!(name in used)) extras[name] = toZod(api, property, new Set([schemaName])).nullish();
  }
  // The extras are parsed (and so type-checked) but left out of the static type: Meterline does
  // not read them. `wso2IgnoredFields` names them for documentation and tests.
  return z.strictObject({ ...extras, ...used }) as unknown as z.ZodObject<T, z.core.$strict>;
}

/** The fields of a WSO2 schema that a route using `used` accepts but ignores, in the schema's order. */
export function wso2IgnoredFields(api: Wso2ApiName, schemaName: string, used: readonly string[]): string[] {
  return Object.keys(wso2Properties(api, schemaName)).filter((name) => !used.includes(name));
}

type JsonSchema = {
  $ref?: string;
  type?: string;
  enum?: unknown[];
  properties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  allOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  nullable?: boolean;
  maxLength?: number;
  minLength?: number;
  minimum?: number;
  maximum?: number;
};

/** A named schema's properties, those inherited through `allOf` included. */
function wso2Properties(api: Wso2ApiName, schemaName: string): Record<string, JsonSchema> {
  const schema = wso2Spec(api).components.schemas?.[schemaName] as JsonSchema | undefined;
  if (!schema) throw new Error(`WSO2's ${api} API has no schema ${schemaName}`);
  return propertiesOf(api, schema, new Set([schemaName]));
}

function propertiesOf(api: Wso2ApiName, schema: JsonSchema, seen: ReadonlySet<string>): Record<string, JsonSchema> {
  const resolved = resolve(api, schema, seen);
  if (!resolved) return {};
  const inherited = (resolved.schema.allOf ?? []).map((member) => propertiesOf(api, member, resolved.seen));
  return Object.assign({}, ...inherited, resolved.schema.properties ?? {});
}

/** Follows a `$ref` into the document's schemas; undefined on a cycle (the caller accepts anything there). */
function resolve(api: Wso2ApiName, schema: JsonSchema, seen: ReadonlySet<string>): { schema: JsonSchema; seen: ReadonlySet<string> } | undefined {
  if (!schema.$ref) return { schema, seen };
  const name = schema.$ref.replace('#/components/schemas/', '');
  if (seen.has(name)) return undefined;
  const target = wso2Spec(api).components.schemas?.[name] as JsonSchema | undefined;
  if (!target) throw new Error(`WSO2's ${api} API has no schema ${name}`);
  return { schema: target, seen: new Set([...seen, name]) };
}

/** WSO2's schema as zod: types, enums, lengths and bounds; objects refuse fields the schema does not define. */
function toZod(api: Wso2ApiName, schema: JsonSchema, seen: ReadonlySet<string>): z.ZodType {
  const resolved = resolve(api, schema, seen);
  if (!resolved) return z.unknown();
  const { schema: s, seen: inner } = resolved;
  const base = baseZod(api, s, inner);
  return s.nullable ? base.nullable() : base;
}

function baseZod(api: Wso2ApiName, s: JsonSchema, seen: ReadonlySet<string>): z.ZodType {
  if (s.oneOf || s.anyOf) {
    const options = (s.oneOf ?? s.anyOf)!.map((member) => toZod(api, member, seen));
    return options.length >= 2 ? z.union(options as [z.ZodType, z.ZodType, ...z.ZodType[]]) : (options[0] ?? z.unknown());
  }
  if (s.enum && s.enum.every((value) => typeof value === 'string')) return z.enum(s.enum as [string, ...string[]]);
  switch (s.type) {
    case 'string': {
      let out = z.string();
      if (s.maxLength !== undefined) out = out.max(s.maxLength);
      if (s.minLength !== undefined) out = out.min(s.minLength);
      return out;
    }
    case 'integer':
    case 'number': {
      let out = s.type === 'integer' ? z.number().int() : z.number();
      if (s.minimum !== undefined) out = out.min(s.minimum);
      if (s.maximum !== undefined) out = out.max(s.maximum);
      return out;
    }
    case 'boolean':
      return z.boolean();
    case 'array':
      return z.array(s.items ? toZod(api, s.items, seen) : z.unknown());
    default:
      return objectZod(api, s, seen);
  }
}

function objectZod(api: Wso2ApiName, s: JsonSchema, seen: ReadonlySet<string>): z.ZodType {
  const properties = propertiesOf(api, s, seen);
  const names = Object.keys(properties);
  const additional = s.additionalProperties;
  if (names.length === 0) {
    // A map (`additionalProperties: {type: string}`) or a free-form object.
    const values = typeof additional === 'object' ? toZod(api, additional, seen) : z.unknown();
    return s.type === 'object' || additional !== undefined ? z.record(z.string(), values) : z.unknown();
  }
  const shape = Object.fromEntries(names.map((name) => [name, toZod(api, properties[name]!, seen).optional()]));
  return additional === undefined || additional === false ? z.strictObject(shape) : z.looseObject(shape);
}
