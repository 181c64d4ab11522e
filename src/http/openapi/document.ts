import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { API_BASE_PATHS, type AnyRoute } from '../route';
import { isWso2Api, wso2Spec, type Wso2ApiName } from './wso2-specs';

const PREFIX: Record<Wso2ApiName, string> = { admin: 'Admin.', publisher: 'Publisher.', devportal: 'Devportal.' };
const SECTIONS = ['schemas', 'responses', 'parameters'] as const;
type Section = (typeof SECTIONS)[number];

/**
 * Meterline's own OpenAPI 3.0 document: exactly the operations it implements, cut from WSO2's
 * documents. Responses and their schemas are WSO2's (component names prefixed by API, e.g.
 * `Publisher.API`, since the three documents reuse names); request bodies and parameters are
 * what Meterline validates (a strict subset: unknown fields are refused); security lists each
 * operation's scopes; 401 and 403 are added everywhere.
 */
export function buildOpenApiDocument(routes: readonly AnyRoute[], version: string): Record<string, unknown> {
  const components: Record<Section, Record<string, unknown>> = { schemas: {}, responses: {}, parameters: {} };
  const pending: Array<{ api: Wso2ApiName; section: Section; name: string }> = [];
  const rewrite = (api: Wso2ApiName, node: unknown): unknown => {
    if (Array.isArray(node)) return node.map((item) => rewrite(api, item));
    if (typeof node !== 'object' || node === null) return node;
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(node)) {
      const match = key === '$ref' && typeof value === 'string' ? /^#\/components\/(schemas|responses|parameters)\/(.+)$/.exec(value) : null;
      if (match) {
        const section = match[1] as Section;
        pending.push({ api, section, name: match[2]! });
        out.$ref = `#/components/${section}/${PREFIX[api]}${match[2]}`;
      } else {
        out[key] = rewrite(api, value);
      }
    }
    return out;
  };

  const paths: Record<string, Record<string, unknown>> = {};
  const scopes: Record<string, string> = {};
  for (const route of routes) {
    const api = route.api;
    if (!isWso2Api(api)) throw new Error(`${api} is not one of WSO2's APIs; describe it separately`);
    const spec = wso2Spec(api);
    const operation = spec.paths[route.path]?.[route.method];
    if (!operation) throw new Error(`WSO2's ${api} API has no ${route.method.toUpperCase()} ${route.path}`);
    const wso2Scopes = (spec.components.securitySchemes as { OAuth2Security?: { flows: { password: { scopes: Record<string, string> } } } })
      .OAuth2Security?.flows.password.scopes ?? {};
    for (const scope of route.scopes) scopes[scope] = wso2Scopes[scope] ?? scope;
    const responses = rewrite(api, operation.responses) as Record<string, unknown>;
    pending.push({ api, section: 'schemas', name: 'Error' });
    const error = (description: string) => ({
      description,
      content: { 'application/json': { schema: { $ref: `#/components/schemas/${PREFIX[api]}Error` } } },
    });
    const path = `${API_BASE_PATHS[route.api]}${route.path}`;
    paths[path] = {
      ...paths[path],
      [route.method]: {
        tags: operation.tags,
        summary: route.summary,
        description: operation.description,
        operationId: `${route.api}.${route.operationId}`,
        parameters: [...parametersOf(route.params, 'path'), ...parametersOf(route.query, 'query')],
        ...(route.body
          ? {
              requestBody: {
                required: true,
                description: "WSO2's schema: the fields Meterline keeps are validated as it stores them, WSO2's other fields are type-checked and ignored, and a field WSO2 does not define is refused (400).",
                content: { 'application/json': { schema: jsonSchema(route.body) } },
              },
            }
          : {}),
        responses: { ...responses, 401: error('Unauthorized: no valid bearer token.'), 403: error('Forbidden: the token lacks the scopes.') },
        security: [{ OAuth2Security: [...route.scopes] }],
      },
    };
  }

  const done = new Set<string>();
  while (pending.length > 0) {
    const { api, section, name } = pending.pop()!;
    const key = `${section}/${PREFIX[api]}${name}`;
    if (done.has(key)) continue;
    done.add(key);
    const source = wso2Spec(api).components[section]?.[name];
    if (source === undefined) throw new Error(`WSO2's ${api} API has no component ${section}/${name}`);
    components[section][`${PREFIX[api]}${name}`] = rewrite(api, source);
  }

  return {
    openapi: '3.0.1',
    info: {
      title: 'Meterline REST API',
      version,
      description:
        "The subset of WSO2 API Manager's Admin v4, Publisher v4 and Developer Portal v3 REST APIs that Meterline implements, " +
        'with the same paths, methods, scopes, shapes and status codes. Bearer JWTs from the configured issuer; `meterline token` mints one locally.',
    },
    servers: [{ url: '/' }],
    paths,
    components: {
      ...components,
      securitySchemes: {
        OAuth2Security: {
          type: 'oauth2',
          description: 'Bearer JWT verified against [auth.jwt] (issuer, audience, key); scopes in its `scope` claim as in WSO2.',
          flows: { clientCredentials: { tokenUrl: '/oauth2/token', scopes } },
        },
      },
    },
  };
}

function jsonSchema(schema: z.ZodType): unknown {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

function parametersOf(schema: z.ZodType | undefined, location: 'path' | 'query'): unknown[] {
  if (!schema) return [];
  const json = jsonSchema(schema) as { properties?: Record<string, unknown>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, property]) => ({
    name,
    in: location,
    required: location === 'path' || (json.required ?? []).includes(name),
    schema: property,
  }));
}

/** The version in Meterline's package.json (found upwards from this module, in src/ or dist/). */
export function meterlineVersion(): string {
  for (let folder = __dirname; folder !== dirname(folder); folder = dirname(folder)) {
    const file = join(folder, 'package.json');
    if (!existsSync(file)) continue;
    const manifest = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
    if (manifest.name === 'meterline' && manifest.version) return manifest.version;
  }
  return '0.0.0';
}
