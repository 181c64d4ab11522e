import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import { load } from 'js-yaml';

/**
 * docs/custom-billing.openapi.yaml, read at test time: each request Meterline sends is validated
 * against the request schema of the webhook its `type` names (OpenAPI 3.1 schemas are JSON
 * Schema 2020-12, so Ajv reads them as they are).
 */
const document = load(readFileSync(join(__dirname, '../../../docs/custom-billing.openapi.yaml'), 'utf8')) as {
  webhooks: Record<string, { post?: { requestBody?: { content?: Record<string, { schema?: unknown }> } } }>;
  components: { schemas: Record<string, unknown> };
};

const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
ajv.addSchema({ $id: 'custom-billing', components: document.components });

const validators = new Map<string, ValidateFunction>();

/** The webhooks the description declares, each with its request schema, or why not. */
export function declaredRequest(type: string): ValidateFunction | string {
  const schema = document.webhooks[type]?.post?.requestBody?.content?.['application/json']?.schema;
  if (!schema) return `the description has no webhook ${type} with a JSON request body`;
  let validate = validators.get(type);
  if (!validate) {
    validate = ajv.compile(JSON.parse(JSON.stringify(schema).replace(/"#\/components\//g, '"custom-billing#/components/')) as object);
    validators.set(type, validate);
  }
  return validate;
}

/** What is wrong with a body Meterline sent, by the description (empty: nothing). */
export function sentBodyProblems(body: { type: string }): string[] {
  const validate = declaredRequest(body.type);
  if (typeof validate === 'string') return [validate];
  return validate(body) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`);
}
