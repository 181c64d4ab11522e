import { z } from 'zod';
import { wso2Spec, type Wso2ApiName } from './wso2-specs';

/**
 * Request bodies shaped by WSO2's own schemas. WSO2's clients (the admin and publisher portals,
 * apictl) send every field of WSO2's schema, most of which Meterline does not keep (gateway and
 * throttling-enforcement settings). `wso2Body` builds a strict body from the fields Meterline
 * validates as it needs them, plus every other property WSO2's schema defines at that level,
 * type-checked against WSO2's definition and then dropped: a body valid against WSO2's schema
 * is never refused for carrying them, and a field WSO2 does not define is still refused (400
 * naming it). The accepted-and-ignored set is read from the bundled WSO2 documents, so it follows
 * them when they are updated.
 */

type OpenApiSchema = {
  $ref?: string;
  type?: string;
  properties?: Record<string, OpenApiSchema>;
  required?: string[];
  additionalProperties?: boolean | OpenApiSchema;
  items?: OpenApiSchema;
  allOf?: OpenApiSchema[];
  oneOf?: OpenApiSchema[];
  anyOf?: OpenApiSchema[];
  enum?: unknown[];
  nullable?: boolean;
  maxLength?: number;
  minLength?: number;
};

/** The properties of a WSO2 schema by name, `allOf` members merged. */
export function wso2Properties(api: Wso2ApiName, schemaName: string): Record<string, OpenApiSchema> {
  return merged(api, { $ref: `#/components/schemas/${schemaName}` }).properties;
}

/**
 * A strict zod object: `shape` (what Meterline keeps, validated its way) plus, optional and
 * type-checked, every other property of WSO2's `schemaName`; the output holds only `shape`'s keys.
 */
export function wso2Body<S extends z.ZodRawShape>(api: Wso2ApiName, schemaName: string, shape: S) {
  const ignored = ignoredShape(api, schemaName, Object.keys(shape));
  const keys = Object.keys(shape);
  return z
    .strictObject({ ...ignored, ...shape } as S)
    .transform((value) => Object.fromEntries(Object.entries(value).filter(([key]) => keys.includes(key))) as z.output<z.ZodObject<S>>);
}

/** The names of the properties of WSO2's schema that a body built with `shape` accepts and drops. */
export function ignoredFields(api: Wso2ApiName, schemaName: string, shape: z.ZodRawShape): string[] {
  return Object.keys(ignoredShape(api, schemaName, Object.keys(shape))).sort();
}

function ignoredShape(api: Wso2ApiName, schemaName: string, kept: readonly string[]): Record<string, z.ZodType> {
  const { properties, required } = merged(api, { $ref: `#/components/schemas/${schemaName}` });
  const shape: Record<string, z.ZodType> = {};
  for (const [name, property] of Object.entries(properties)) {
    if (kept.includes(name)) continue;
    // WSO2's JSON binding reads an explicit null as an absent value; its clients send both.
    shape[name] = required.has(name) ? toZod(api, property) : toZod(api, property).nullish();
  }
  return shape;
}

function resolve(api: Wso2ApiName, schema: OpenApiSchema): OpenApiSchema {
  if (!schema.$ref) return schema;
  const name = schema.$ref.replace('#/components/schemas/', '');
  const target = wso2Spec(api).components.schemas?.[name] as OpenApiSchema | undefined;
  if (!target) throw new Error(`WSO2's ${api} API has no schema ${name}`);
  return target;
}

/** An object schema with its `allOf` members' properties and requirements merged. */
function merged(api: Wso2ApiName, schema: OpenApiSchema): { properties: Record<string, OpenApiSchema>; required: Set<string>; open: boolean } {
  const resolved = resolve(api, schema);
  const properties: Record<string, OpenApiSchema> = { ...resolved.properties };
  const required = new Set(resolved.required ?? []);
  let open = resolved.additionalProperties !== undefined && resolved.additionalProperties !== false;
  for (const member of resolved.allOf ?? []) {
    const part = merged(api, member);
    Object.assign(properties, part.properties);
    for (const name of part.required) required.add(name);
    open ||= part.open;
  }
  return { properties, required, open };
}

const lazyByRef = new Map<string, z.ZodType>();

/** WSO2's OpenAPI 3.0 schema as zod: types, enums, lengths, required fields, unknown fields refused. */
function toZod(api: Wso2ApiName, schema: OpenApiSchema): z.ZodType {
  if (schema.$ref) {
    // Lazy and shared per reference, so recursive schemas terminate.
    const key = `${api} ${schema.$ref}`;
    let cached = lazyByRef.get(key);
    if (!cached) {
      cached = z.lazy(() => toZod(api, resolve(api, schema)));
      lazyByRef.set(key, cached);
    }
    return cached;
  }
  const base = baseZod(api, schema);
  return schema.nullable ? base.nullable() : base;
}

function baseZod(api: Wso2ApiName, schema: OpenApiSchema): z.ZodType {
  const alternatives = schema.oneOf ?? schema.anyOf;
  if (alternatives && alternatives.length > 0) {
    const members = alternatives.map((member) => toZod(api, member));
    return members.length === 1 ? members[0]! : z.union(members as [z.ZodType, z.ZodType, ...z.ZodType[]]);
  }
  if (schema.enum && schema.enum.length > 0 && schema.enum.every((value) => typeof value === 'string')) {
    return z.enum(schema.enum as [string, ...string[]]);
  }
  switch (schema.type) {
    case 'string': {
      let text = z.string();
      if (schema.maxLength !== undefined) text = text.max(schema.maxLength);
      if (schema.minLength !== undefined) text = text.min(schema.minLength);
      return text;
    }
    case 'integer':
      return z.number().int();
    case 'number':
      return z.number();
    case 'boolean':
      return z.boolean();
    case 'array':
      return z.array(schema.items ? toZod(api, schema.items) : z.unknown());
  }
  if (schema.type === 'object' || schema.properties || schema.allOf || schema.additionalProperties !== undefined) {
    const { properties, required, open } = merged(api, schema);
    const names = Object.keys(properties);
    if (names.length === 0) {
      if (typeof schema.additionalProperties === 'object') return z.record(z.string(), toZod(api, schema.additionalProperties));
      // A free-form value (`type: object` without properties): WSO2's generated classes bind it to a
      // Java Object, which takes any JSON value (the portals send `keyManagers: ["all"]`, policy
      // parameters as strings).
      return z.unknown();
    }
    const shape = Object.fromEntries(
      names.map((name) => [name, required.has(name) ? toZod(api, properties[name]!) : toZod(api, properties[name]!).nullish()]),
    );
    return open ? z.looseObject(shape) : z.strictObject(shape);
  }
  return z.unknown();
}
