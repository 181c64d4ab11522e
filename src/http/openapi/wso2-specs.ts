import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';

/** An OpenAPI 3.0 document as parsed JSON. */
export type OpenApiDocument = {
  paths: Record<string, Record<string, OpenApiOperation>>;
  components: Record<string, Record<string, unknown>>;
  [key: string]: unknown;
};
export type OpenApiOperation = { responses: Record<string, unknown>; security?: unknown; [key: string]: unknown };

/** The REST APIs WSO2 defines (Meterline may serve others of its own). */
export const WSO2_APIS = ['admin', 'publisher', 'devportal'] as const;
export type Wso2ApiName = (typeof WSO2_APIS)[number];

export function isWso2Api(api: string): api is Wso2ApiName {
  return (WSO2_APIS as readonly string[]).includes(api);
}

const FILES: Record<Wso2ApiName, string> = { admin: 'admin-api.yaml', publisher: 'publisher-api.yaml', devportal: 'devportal-api.yaml' };

/** The folder with WSO2's YAML files: next to this module under ts-jest, in the source tree for dist/. */
function specFolder(): string {
  const candidates = [join(__dirname, 'wso2-apim'), join(__dirname, '..', '..', '..', '..', 'src', 'http', 'openapi', 'wso2-apim')];
  const found = candidates.find((folder) => existsSync(join(folder, FILES.admin)));
  if (!found) throw new Error(`WSO2 OpenAPI documents not found (looked in ${candidates.join(', ')})`);
  return found;
}

/**
 * WSO2's `x-code-samples` hold multi-line quoted curl examples indented less than YAML allows;
 * they are documentation only, so they are dropped before parsing.
 */
function withoutCodeSamples(source: string): string {
  const out: string[] = [];
  let skipIndent = -1;
  for (const line of source.split('\n')) {
    const indent = line.search(/\S/);
    if (skipIndent >= 0) {
      if (indent === -1 || indent > skipIndent || (indent === skipIndent && line.trimStart().startsWith('- '))) continue;
      skipIndent = -1;
    }
    const match = /^(\s*)x-code-samples:/.exec(line);
    if (match) {
      skipIndent = match[1]!.length;
      continue;
    }
    out.push(line);
  }
  return out.join('\n');
}

const cache = new Map<Wso2ApiName, OpenApiDocument>();

/** WSO2's OpenAPI document of one of the three REST APIs (parsed once, then shared: do not mutate). */
export function wso2Spec(api: Wso2ApiName): OpenApiDocument {
  let document = cache.get(api);
  if (!document) {
    document = load(withoutCodeSamples(readFileSync(join(specFolder(), FILES[api]), 'utf8'))) as OpenApiDocument;
    cache.set(api, document);
  }
  return document;
}
