import { forEachTestDatabase } from '../helpers/databases';
import { monetizedWorld, roleTokens } from '../helpers/rest-fixtures';
import { OTHER_TENANT, startRestHarness, type RestHarness } from '../helpers/rest-harness';
import { startStripeServer, type StripeServer } from '../../dev/stripe-server';
import { createSeededRandom } from '../usage/random';

/**
 * A seeded fuzz of every operation in the OpenAPI document Meterline serves
 * (`GET /api/am/openapi.json`), plus the devportal pages: for each, requests with mutated inputs
 * (garbage, over-long, NUL, unicode and badly percent-encoded path ids and query values; bodies
 * derived from the operation's request schema with fields type-confused, oversized, missing or
 * extra; bodies that are not JSON or not sent as JSON; no token, a garbage token, a token with
 * every scope, another tenant's token). Bad input is always the caller's fault: no answer may be
 * a 5xx (a 502/503 would mean bad input reached the billing engine). The test lists every 5xx
 * with its request. Replay a run with METERLINE_FUZZ_SEED; METERLINE_FUZZ_REQUESTS sets the
 * requests per operation; METERLINE_FUZZ_REPORT=1 prints the statuses seen.
 */
const SEED = Number(process.env.METERLINE_FUZZ_SEED ?? 20261130);
const PER_OPERATION = Number(process.env.METERLINE_FUZZ_REQUESTS ?? 40);

type Schema = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type Random = ReturnType<typeof fuzzRandom>;

function fuzzRandom(seed: number) {
  const next = createSeededRandom(seed);
  return {
    chance: (p: number) => next() < p,
    int: (min: number, max: number) => min + Math.floor(next() * (max - min + 1)),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
  };
}

/** Values no field expects; the JSON text of each is what is sent. */
const GARBAGE: readonly unknown[] = [
  null, true, false, 0, -1, 1.5, 1e308, -1e308, 2 ** 53 + 1, 2 ** 53 - 1, 2 ** 31, -(2 ** 31) - 1, 2 ** 32, 8.64e15 + 1, '', ' ', 'x'.repeat(5000), 'a\u0000b', '\u0000', 'line\nbreak', '\uD800',
  '\uDFFFx', '💥'.repeat(200), '%E0%A4%A', "' OR 1=1 --", '"; DROP TABLE AM_API; --', '<script>alert(1)</script>', '../../etc/passwd', 'NaN',
  'Infinity', '1e400', '-0', '10.005', '9999-99-99T99:99:99Z', '1970-01-01T00:00:00Z', '2999-12-31T23:59:59Z', '0x10', 'null', 'true', [],
  {}, [null], [[[]]], { nested: { deeper: ['x'] } }, JSON.parse('{"__proto__":{"polluted":true}}'), 'constructor', '__proto__',
];

/** A fresh copy of a garbage value (bodies are mutated in place; the table must stay as it is). */
const garbage = (random: Random): unknown => JSON.parse(JSON.stringify(random.pick(GARBAGE))) as unknown;

/** Strings a text field should refuse or store intact (PostgreSQL cannot store NUL; columns have lengths). */
const GARBAGE_STRINGS: readonly string[] = [
  'a\u0000b', '\u0000', 'tab\there', '\u007f', '\uD800', 'x\uDFFF', 'x'.repeat(101), 'x'.repeat(257), 'x'.repeat(1001), 'x'.repeat(70_000), 'é'.repeat(300),
  '💥'.repeat(300), "' OR 1=1 --", '%E0%A4%A', ' ', '',
];

/** The hostile strings a URL can carry (encodeURIComponent refuses lone surrogates; URLs stay short). */
const QUERY_STRINGS = GARBAGE_STRINGS.filter((text) => text.length < 3000 && !/[\uD800-\uDFFF]/.test(text.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, '')));

/** Path segments as sent (already encoded, some deliberately not valid percent-encoding). */
const GARBAGE_SEGMENTS: readonly string[] = [
  '%E0%A4%A', '%ZZ', '%', '%00', 'a%00b', '%0A', '%2F', '..', '%2e%2e', 'a'.repeat(300), 'a'.repeat(256), encodeURIComponent('💥'), '%ED%A0%80',
  '%FF', encodeURIComponent("' OR 1=1 --"), 'null', '0', '-1', '00000000-0000-0000-0000-000000000000', encodeURIComponent('<b>'), '%20', '~',
];

/** Query values as sent. */
const GARBAGE_QUERY: readonly string[] = ['%E0%A4%A', '%', '%00', '', '-1', '0', '1e400', '99999999999999999999', '2147483648', '9007199254740991', 'abc', 'a'.repeat(3000), '%F0%9F%92%A5', '1.5', '%20'];

const CONTENT_TYPES = ['text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=utf-16', 'application/json; charset=latin1', 'application/xml', 'multipart/form-data; boundary=x'];

const RAW_BODIES = ['', '{', 'null', '[]', '"text"', '{"a":', '\u0000', '[' .repeat(5000) + ']'.repeat(5000), '{"a":1,"a":2}', 'x'.repeat(200_000), '\uFEFF{}', '{"events":'];

interface Operation {
  method: string;
  path: string;
  parameters: Schema[];
  body?: Schema;
}

interface Ids {
  [name: string]: readonly string[];
}

/** Every operation of the document, with its parameters and JSON request schema ($refs resolved). */
function operationsOf(document: Schema): Operation[] {
  const resolve = (node: Schema): Schema => {
    let current = node;
    while (current?.$ref) current = current.$ref.split('/').slice(1).reduce((at: Schema, key: string) => at?.[key], document);
    return current ?? {};
  };
  return Object.entries(document.paths as Record<string, Schema>).flatMap(([path, item]) =>
    ['get', 'post', 'put', 'delete', 'patch']
      .filter((method) => item[method])
      .map((method) => {
        const operation = item[method] as Schema;
        const body = operation.requestBody ? resolve(operation.requestBody).content?.['application/json']?.schema : undefined;
        return { method: method.toUpperCase(), path, parameters: [...(item.parameters ?? []), ...(operation.parameters ?? [])].map(resolve), ...(body ? { body: resolveDeep(body, resolve) } : {}) };
      }),
  );
}

function resolveDeep(schema: Schema, resolve: (node: Schema) => Schema, depth = 0): Schema {
  const resolved = resolve(schema);
  if (depth > 8 || typeof resolved !== 'object' || resolved === null) return resolved;
  const out: Schema = Array.isArray(resolved) ? [] : {};
  for (const [key, value] of Object.entries(resolved)) out[key] = typeof value === 'object' && value !== null ? resolveDeep(value as Schema, resolve, depth + 1) : value;
  return out;
}

/** A value the schema describes, using real ids for fields named like one. */
function validValue(schema: Schema, random: Random, ids: Ids, name = '', extreme = false): unknown {
  if (ids[name] && (extreme || random.chance(0.8))) return random.pick(ids[name]!);
  if (schema.enum) return random.pick(schema.enum as unknown[]);
  if (schema.oneOf || schema.anyOf) return validValue(random.pick((schema.oneOf ?? schema.anyOf) as Schema[]), random, ids, name, extreme);
  const type = schema.type ?? (schema.properties || schema.additionalProperties ? 'object' : 'string');
  switch (type) {
    case 'integer':
    case 'number': {
      const min = schema.minimum ?? 0;
      const max = schema.maximum ?? Number.MAX_SAFE_INTEGER;
      if (extreme) return max;
      // Boundaries too: what the schema allows must fit the column it is stored in.
      if (random.chance(0.25)) return random.pick([min, max, 2 ** 31 - 1, 2 ** 31].filter((n) => n >= min && n <= max));
      return random.int(min, Math.min(max, min + 1000));
    }
    case 'boolean':
      return random.chance(0.5);
    case 'array': {
      const count = random.int(schema.minItems ?? 0, Math.min(schema.maxItems ?? 3, 3));
      return Array.from({ length: count }, () => validValue(schema.items ?? {}, random, ids, '', extreme));
    }
    case 'object': {
      const out: Record<string, unknown> = {};
      const required = new Set<string>(schema.required ?? []);
      for (const [key, property] of Object.entries((schema.properties ?? {}) as Record<string, Schema>)) {
        if (required.has(key) || extreme || random.chance(0.75)) out[key] = validValue(property, random, ids, key, extreme);
      }
      if (typeof schema.additionalProperties === 'object') {
        for (let i = random.int(0, 2); i > 0; i -= 1) {
          const key = ids.propertyName && random.chance(0.5) ? random.pick(ids.propertyName) : `prop${i}`;
          out[key] = validValue(schema.additionalProperties as Schema, random, ids, key, extreme);
        }
      }
      return out;
    }
    default:
      if (schema.format === 'date-time') return random.pick(['2026-11-30T10:00:00Z', '2026-11-30T09:00:00.000Z']);
      // The longest text the schema allows, in characters that take several bytes.
      if (extreme && schema.maxLength && !schema.pattern && !schema.allOf) return `${random.int(0, 999_999)}${'é'.repeat(schema.maxLength)}`.slice(0, schema.maxLength);
      // Mostly unique, so creates get past "already exists" to the database.
      return `${random.pick(['Fuzz', 'fuzz-', 'F', 'x', 'USD', 'month', '10.00', 'Gold'])}${random.chance(0.7) ? random.int(0, 999_999) : ''}`.slice(0, schema.maxLength ?? 100);
  }
}

/** Containers inside a JSON value, with how to replace or delete an entry of each. */
function containers(value: unknown, found: Array<Record<string, unknown> | unknown[]> = []): Array<Record<string, unknown> | unknown[]> {
  if (typeof value === 'object' && value !== null) {
    found.push(value as Record<string, unknown>);
    for (const child of Object.values(value)) containers(child, found);
  }
  return found;
}

/**
 * Mutations of a valid body: one to three fields replaced (by a hostile string more often than
 * not, since text reaches the database), removed or added; or the whole body replaced.
 */
function mutate(body: unknown, random: Random): { json?: unknown; raw?: string } {
  const roll = random.int(0, 9);
  if (roll === 0 || containers(body).length === 0) return { raw: random.pick(RAW_BODIES) };
  if (roll === 1) return { json: garbage(random) };
  for (let n = random.int(1, 3); n > 0; n -= 1) {
    const target = random.pick(containers(body)) as Record<string, unknown>;
    const keys = Object.keys(target);
    const replacement = random.chance(0.6) ? random.pick(GARBAGE_STRINGS) : garbage(random);
    const kind = random.int(0, 9);
    if (kind <= 6 && keys.length > 0) target[random.pick(keys)] = replacement;
    else if (kind <= 8 && keys.length > 0) delete target[random.pick(keys)];
    else target[random.pick(['extra', 'policyId', 'id', '__proto__', 'x'.repeat(300)])] = replacement;
  }
  return { json: body };
}

interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  token: string;
}

interface FuzzAnswer extends FuzzRequest {
  status: number;
  response: string;
}

forEachTestDatabase((kind, database) => {
  let stripeServer: StripeServer;
  let rest: RestHarness;
  let operations: Operation[];
  let ids: Ids;
  let tokens: Record<string, string>;

  beforeAll(async () => {
    stripeServer = await startStripeServer({ port: 0 });
    rest = await startRestHarness(database(), stripeServer);
    const document = (await rest.call('GET', '/api/am/openapi.json')).body as Schema;
    operations = operationsOf(document);
    const roles = roleTokens(rest);
    const world = await monetizedWorld(rest, roles);
    ids = {
      policyId: [world.free.policyId, world.gold.policyId],
      apiId: [world.api.id],
      applicationId: [world.applicationId],
      subscriptionId: [world.subscriptionId],
      throttlingPolicy: [world.free.policyName, world.gold.policyName, 'Unlimited'],
      policies: [world.free.policyName],
      ConnectedAccountKey: [world.account],
      tenant: ['carbon.super', OTHER_TENANT.domain],
      tenantDomain: ['carbon.super', OTHER_TENANT.domain],
      engine: ['stripe'],
      propertyName: ['ConnectedAccountKey', 'fixedPrice', 'currencyType', 'billingCycle', 'pricePerRequest'],
      action: ['Publish', 'Deprecate', 'Retire'],
      // Open strings in the document that only a few values satisfy.
      monetizationPlan: ['FIXEDRATE', 'DYNAMICRATE'],
      billingPlan: ['FREE'],
    };
    const scopes = [
      ...new Set(
        Object.values(document.paths as Record<string, Schema>).flatMap((item) =>
          Object.values(item).flatMap((operation: Schema) => (operation.security ?? []).flatMap((requirement: Schema) => Object.values(requirement).flat() as string[])),
        ),
      ),
    ];
    tokens = {
      // The subscriber who owns the application and subscription, with every scope (apim:admin acts for any provider).
      all: rest.token({ sub: 'sam', scopes }),
      other: rest.token({ sub: 'sam', tenant: OTHER_TENANT.domain, scopes }),
      // Validly signed, with claims the database cannot store: refused at verification.
      longSub: rest.token({ sub: 's'.repeat(101), scopes }),
      oddEmail: rest.token({ sub: 'sam', email: `sam\u0000${'m'.repeat(300)}@example.com`, scopes }),
      none: '',
      garbage: random0().pick(['abc', 'a.b.c', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.', 'x'.repeat(9000)]),
    };
  }, 60_000);
  afterAll(async () => {
    await rest?.close();
    await stripeServer?.close();
  });
  const random0 = () => fuzzRandom(SEED);

  function requestFor(operation: Operation, random: Random): FuzzRequest {
    const tokenKind = random.pick(['all', 'all', 'all', 'all', 'all', 'all', 'all', 'other', 'longSub', 'oddEmail', 'none', 'garbage']);
    const headers: Record<string, string> = {};
    if (tokens[tokenKind]) headers.authorization = tokenKind === 'garbage' && random.chance(0.3) ? `Basic ${tokens.garbage}` : `Bearer ${tokens[tokenKind]}`;
    const realIdChance = operation.method === 'DELETE' ? 0.05 : 0.5;
    const path = operation.path.replace(/\{([^}]+)\}/g, (_m, name: string) =>
      ids[name] && random.chance(realIdChance) ? encodeURIComponent(random.pick(ids[name]!)) : random.pick(GARBAGE_SEGMENTS),
    );
    const query: string[] = [];
    for (const parameter of operation.parameters) {
      if (parameter.in === 'query' && random.chance(0.6)) {
        const valid = random.chance(0.5);
        const value = valid
          ? encodeURIComponent(String(validValue(parameter.schema ?? {}, random, ids, parameter.name)))
          : random.chance(0.7) ? random.pick(GARBAGE_QUERY) : encodeURIComponent(random.pick(QUERY_STRINGS));
        query.push(`${parameter.name}=${value}`);
        if (random.chance(0.1)) query.push(`${parameter.name}=${value}`); // repeated
      }
      if (parameter.in === 'header' && random.chance(0.8)) headers[parameter.name] = random.pick(['t=1,v1=abc', '', 'v1=', 't=x', `t=${'9'.repeat(30)},v1=${'a'.repeat(64)}`, 'x'.repeat(4000)]);
    }
    if (random.chance(0.1)) query.push(random.pick(['unknown=1', '%E0%A4%A=1', 'a[b]=1', 'limit[]=1', '%00=%00']));
    const request: FuzzRequest = { method: operation.method, path: query.length > 0 ? `${path}?${query.join('&')}` : path, headers, token: tokenKind };
    // fetch sends no body with GET; a DELETE may carry one.
    if (operation.body || (operation.method !== 'GET' && random.chance(0.1))) {
      const roll = random.int(0, 19);
      const valid = operation.body ? validValue(operation.body, random, ids) : undefined;
      const mutated = !operation.body || roll < 3 ? { raw: random.pick(RAW_BODIES) } : roll < 6 ? { json: valid } : mutate(valid, random);
      request.body = mutated.raw ?? JSON.stringify(mutated.json);
      headers['content-type'] = random.chance(0.8) ? 'application/json' : random.pick(CONTENT_TYPES);
    }
    return request;
  }

  /**
   * A body the schema allows at its limits (every field present, numbers at their maximum,
   * texts at their longest): what the document accepts must fit where it is stored.
   */
  function extremeRequest(operation: Operation, random: Random): FuzzRequest {
    const path = operation.path.replace(/\{([^}]+)\}/g, (_m, name: string) => encodeURIComponent(ids[name] ? random.pick(ids[name]!) : 'x'));
    return {
      method: operation.method,
      path,
      headers: { authorization: `Bearer ${tokens.all}`, 'content-type': 'application/json' },
      body: JSON.stringify(validValue(operation.body!, random, ids, '', true)),
      token: 'all',
    };
  }

  /** The server-rendered devportal pages are not in the document; fuzzed the same way. */
  function pageRequest(random: Random): FuzzRequest {
    const cookie = random.pick(['', 'meterline_devportal=%E0%A4%A', 'meterline_devportal=%', `meterline_devportal=${tokens.all}`, 'meterline_devportal=a.b.c', '=;;=', 'meterline_devportal']);
    const headers: Record<string, string> = cookie === '' ? {} : { cookie };
    const id = random.chance(0.6) ? ids.subscriptionId![0]! : random.pick(GARBAGE_SEGMENTS);
    const choice = random.int(0, 3);
    if (choice === 0) return { method: 'GET', path: `/devportal/subscriptions/${id}/invoice`, headers, token: 'cookie' };
    if (choice === 1) return { method: 'GET', path: `/devportal/login?next=${random.pick(GARBAGE_QUERY)}`, headers, token: 'none' };
    headers['content-type'] = random.chance(0.8) ? 'application/x-www-form-urlencoded' : random.pick(CONTENT_TYPES);
    if (random.chance(0.7)) headers['sec-fetch-site'] = random.pick(['same-origin', 'cross-site', 'none', '']);
    const token = random.pick([tokens.all!, tokens.garbage!, '%E0%A4%A', '', 'x'.repeat(20_000)]);
    const body = random.pick([`token=${encodeURIComponent(token)}&next=${random.pick(GARBAGE_QUERY)}`, `token=${token}`, random.pick(RAW_BODIES)]);
    return { method: 'POST', path: choice === 2 ? '/devportal/login' : '/devportal/logout', headers, body, token: 'form' };
  }

  async function send(request: FuzzRequest): Promise<FuzzAnswer> {
    const response = await fetch(`${rest.url}${request.path}`, {
      method: request.method,
      headers: request.headers,
      redirect: 'manual',
      ...(request.body === undefined ? {} : { body: request.body }),
    });
    return { ...request, status: response.status, response: (await response.text()).slice(0, 300) };
  }

  it(`no request to any operation is answered with a 5xx (seed ${SEED}, ${PER_OPERATION} requests per operation)`, async () => {
    const random = fuzzRandom(SEED);
    expect(operations.length).toBeGreaterThanOrEqual(30);
    const requests = [
      ...operations.flatMap((operation) => Array.from({ length: PER_OPERATION }, () => requestFor(operation, random))),
      ...operations.filter((operation) => operation.body).flatMap((operation) => Array.from({ length: 3 }, () => extremeRequest(operation, random))),
      ...Array.from({ length: PER_OPERATION * 2 }, () => pageRequest(random)),
    ];
    // A seeded shuffle: operations interleave (a DELETE's effects meet the others' requests).
    for (let i = requests.length - 1; i > 0; i -= 1) {
      const j = random.int(0, i);
      [requests[i], requests[j]] = [requests[j]!, requests[i]!];
    }
    const answers: FuzzAnswer[] = [];
    for (const request of requests) answers.push(await send(request));

    if (process.env.METERLINE_FUZZ_REPORT === '1') {
      const statuses = answers.reduce<Record<number, number>>((count, a) => ({ ...count, [a.status]: (count[a.status] ?? 0) + 1 }), {});
      console.log(`fuzz on ${kind}: ${answers.length} requests, statuses ${JSON.stringify(statuses)}`); // eslint-disable-line no-console
    }
    const failures = answers
      .filter((answer) => answer.status >= 500)
      .map((a) => `${a.status} ${a.method} ${a.path.slice(0, 200)} [token ${a.token}, ${a.headers['content-type'] ?? 'no content type'}] body ${JSON.stringify((a.body ?? '').slice(0, 200))} → ${a.response}`);
    expect(failures).toEqual([]);
    // The REST routes refuse what cannot be stored themselves, naming the field; the database's
    // refusal (src/db/errors.ts, a 400 naming no field) is only a safety net behind them.
    const netted = answers
      .filter((a) => /^\/api\/am\/(admin|publisher|devportal)\//.test(a.path) && /than Meterline can store|character Meterline cannot store/.test(a.response))
      .map((a) => `${a.method} ${a.path.slice(0, 200)} body ${JSON.stringify((a.body ?? '').slice(0, 300))} → ${a.response}`);
    expect(netted).toEqual([]);
  }, 120_000);
});
