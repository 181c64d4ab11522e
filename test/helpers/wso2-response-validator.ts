import Ajv2019, { type ValidateFunction } from 'ajv/dist/2019';
import { isWso2Api, WSO2_APIS, wso2Spec, type OpenApiDocument, type Wso2ApiName } from '../../src/http/openapi/wso2-specs';

/**
 * Validates responses against WSO2's own OpenAPI schemas (the documents in
 * src/http/openapi/wso2-apim/, loaded at test time). OpenAPI 3.0's dialect is brought to JSON
 * Schema 2019-09 for Ajv: `nullable` becomes a `null` type, `$ref`s point into the document,
 * annotations (`example`, `x-*`, `discriminator`) are dropped. On top of WSO2's schemas, every
 * object that is not a building block of an `allOf` gets `unevaluatedProperties: false`: a field
 * the spec does not define (a typo such as `lifecycleStatus`) fails validation.
 */
export interface ResponseCheck {
  /** Whether the spec declares this status for the operation. */
  declared: boolean;
  errors: string[];
}

const DROPPED = new Set(['example', 'examples', 'discriminator', 'xml', 'externalDocs']);

export class Wso2ResponseValidator {
  private readonly ajv = new Ajv2019({ strict: false, validateFormats: false, allErrors: true });
  private readonly compiled = new Map<string, ValidateFunction>();

  /** @param bodyOverrides `"<api> <METHOD> <path> <status>"` → schema name (`Name[]`: an array of it), where WSO2's implementation returns a body its spec omits or shapes otherwise. */
  constructor(private readonly bodyOverrides: Readonly<Record<string, string>> = {}) {
    for (const api of WSO2_APIS) {
      const schemas = wso2Spec(api).components.schemas ?? {};
      const allOfMembers = collectAllOfMembers(schemas);
      const definitions = Object.fromEntries(
        Object.entries(schemas).map(([name, schema]) => [name, convert(schema, api, !allOfMembers.has(name))]),
      );
      this.ajv.addSchema({ $id: schemaId(api), definitions });
    }
  }

  check(api: string, template: string, method: string, status: number, body: unknown): ResponseCheck {
    if (!isWso2Api(api)) return { declared: false, errors: [`${api} is not one of WSO2's APIs`] };
    const document = wso2Spec(api);
    const operation = document.paths[template]?.[method.toLowerCase()];
    if (!operation) return { declared: false, errors: [`the spec has no ${method.toUpperCase()} ${template}`] };
    const declaredResponse = operation.responses[String(status)];
    if (declaredResponse === undefined) {
      // An error status the spec leaves out (401/403 everywhere, some 404/409): still WSO2's Error object.
      if (status >= 400) return { declared: false, errors: this.validate(api, 'Error', body) };
      return { declared: false, errors: [`the spec does not declare ${status} for ${method.toUpperCase()} ${template}`] };
    }
    const override = this.bodyOverrides[`${api} ${method.toUpperCase()} ${template} ${status}`];
    if (override?.endsWith('[]')) {
      // An array of the named schema, where WSO2 answers a list its spec declares as one object.
      if (!Array.isArray(body)) return { declared: true, errors: [`${status}: expected an array, got ${JSON.stringify(body)}`] };
      return { declared: true, errors: body.flatMap((item, i) => this.validate(api, override.slice(0, -2), item).map((e) => `[${i}] ${e}`)) };
    }
    if (override) return { declared: true, errors: this.validate(api, override, body) };
    const response = resolveResponse(document, declaredResponse);
    const schema = (response.content as Record<string, { schema?: { $ref?: string } }> | undefined)?.['application/json']?.schema;
    if (!schema) {
      // `content: {}`: no body, or an empty JSON object.
      const empty = body === undefined || (typeof body === 'object' && body !== null && Object.keys(body).length === 0);
      return { declared: true, errors: empty ? [] : [`${status} has no body in the spec, got ${JSON.stringify(body)}`] };
    }
    // An array of a named schema (e.g. POST /subscriptions/multiple): each item against it.
    const items = (schema as { type?: string; items?: { $ref?: string } }).type === 'array' ? (schema as { items?: { $ref?: string } }).items?.$ref : undefined;
    if (items) {
      if (!Array.isArray(body)) return { declared: true, errors: [`${status}: expected an array, got ${JSON.stringify(body)}`] };
      const itemName = items.replace('#/components/schemas/', '');
      return { declared: true, errors: body.flatMap((item, i) => this.validate(api, itemName, item).map((e) => `[${i}] ${e}`)) };
    }
    const name = schema.$ref?.replace('#/components/schemas/', '');
    if (!name) return { declared: true, errors: [`${status}: inline response schemas are not supported by this validator`] };
    return { declared: true, errors: this.validate(api, name, body) };
  }

  private validate(api: Wso2ApiName, schemaName: string, body: unknown): string[] {
    const key = `${api}#${schemaName}`;
    let validate = this.compiled.get(key);
    if (!validate) {
      validate = this.ajv.compile({ $ref: `${schemaId(api)}#/definitions/${schemaName}` });
      this.compiled.set(key, validate);
    }
    if (validate(body)) return [];
    return (validate.errors ?? []).map((e) => `${schemaName}${e.instancePath} ${e.message}${e.params && 'unevaluatedProperty' in e.params ? ` (${String(e.params.unevaluatedProperty)})` : ''}`);
  }
}

function schemaId(api: Wso2ApiName): string {
  return `https://meterline.test/wso2/${api}.json`;
}

function resolveResponse(document: OpenApiDocument, response: unknown): Record<string, unknown> {
  const ref = (response as { $ref?: string }).$ref;
  if (!ref) return response as Record<string, unknown>;
  const name = ref.replace('#/components/responses/', '');
  return document.components.responses?.[name] as Record<string, unknown>;
}

/** Schemas used as members of an `allOf` anywhere: they must stay open to their siblings' fields. */
function collectAllOfMembers(schemas: Record<string, unknown>): Set<string> {
  const members = new Set<string>();
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (typeof node !== 'object' || node === null) return;
    const record = node as Record<string, unknown>;
    if (Array.isArray(record.allOf)) {
      for (const member of record.allOf) {
        const ref = (member as { $ref?: string }).$ref;
        if (ref) members.add(ref.replace('#/components/schemas/', ''));
      }
    }
    Object.values(record).forEach(visit);
  };
  visit(schemas);
  return members;
}

function convert(node: unknown, api: Wso2ApiName, closed: boolean): unknown {
  if (Array.isArray(node)) return node.map((item) => convert(item, api, true));
  if (typeof node !== 'object' || node === null) return node;
  const record = node as Record<string, unknown>;
  if (typeof record.$ref === 'string') {
    return { $ref: record.$ref.replace('#/components/schemas/', `${schemaId(api)}#/definitions/`) };
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record)) {
    if (DROPPED.has(key) || key.startsWith('x-') || key === 'nullable') continue;
    if (key === 'properties' && typeof value === 'object' && value !== null) {
      out.properties = Object.fromEntries(Object.entries(value).map(([name, schema]) => [name, convert(schema, api, true)]));
    } else if (key === 'allOf' && Array.isArray(value)) {
      out.allOf = value.map((member) => convert(member, api, false));
    } else {
      out[key] = convert(value, api, true);
    }
  }
  if (record.nullable === true && typeof record.type === 'string') out.type = [record.type, 'null'];
  const isObject = record.properties !== undefined || Array.isArray(record.allOf);
  if (closed && isObject && record.additionalProperties === undefined) out.unevaluatedProperties = false;
  return out;
}
