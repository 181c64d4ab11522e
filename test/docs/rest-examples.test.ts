import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Express } from 'express';
import { composeHttp } from '../../src/composition';
import { startBillingHarness, type BillingHarness } from '../helpers/billing-harness';
import { describeWith } from '../helpers/optional-parts';
import { forEachTestDatabase } from '../helpers/databases';
import { startStripeServer, type StripeServer } from '../../dev/stripe-server';
import { assignedVariables, compareJson, compareResponse, parseRestDoc, type ActualResponse, type DocExample } from './rest-doc';

/**
 * docs/rest.md cannot drift: every example in it is run, in the document's order, as the literal
 * shell text it shows (bash, curl, jq), against a real Meterline (the billing harness: the Stripe
 * engine on the local Stripe server, which delivers its signed webhooks), and what it prints must
 * be the response the document shows. Ids flow from example to example through the shell
 * variables the examples capture. Every route the application serves must be called by one.
 *
 * Only two things are supplied from outside the document: the tokens its setup mints with the CLI
 * (minted here with the same subject, e-mail and scopes, read from the setup's lines) and the
 * publisher's connected account (`ACCOUNT_ID`, created on the local Stripe server) and that
 * server's address (`STRIPE_URL`). `date` is pinned to the billing clock, so the examples' "now"
 * is the same on any machine and any day.
 */
const DOC = join(__dirname, '..', '..', 'docs', 'rest.md');
const doc = parseRestDoc(readFileSync(DOC, 'utf8'));
/** 2025-01-15 12:00:00 UTC: the billing clock of the whole story (one example moves it an hour). */
const STORY_START = Date.UTC(2025, 0, 15, 12, 0, 0) / 1000;

/** The story's local Stripe server: one per database, since the story moves its clock. */
let stripeServer: StripeServer;

describe('docs/rest.md', () => {
  it('has the four tokens and the examples the story needs', () => {
    expect(doc.tokens.map((t) => t.variable).sort()).toEqual(['ADMIN_TOKEN', 'GATEWAY_TOKEN', 'PUBLISHER_TOKEN', 'SUBSCRIBER_TOKEN']);
    expect(doc.examples.length).toBeGreaterThan(30);
  });
});

describeWith('rest-examples', 'the examples of docs/rest.md, run literally', () => {
  forEachTestDatabase((_kind, database) => {
    let harness: BillingHarness;
    let workDir: string;
    const variables = new Map<string, string>();
    /** `METHOD /path` of every request the examples made. */
    const requests: string[] = [];

    beforeAll(async () => {
      // As the setup's `npm run stripe-server -- --port 12111 --aggregation-delay 0` starts it.
      stripeServer = await startStripeServer({ port: 0, startAt: STORY_START, aggregationDelaySeconds: 0 });
      harness = await startBillingHarness(database(), stripeServer, { holdUntilPaid: false, graceDays: 3 });
      workDir = mkdtempSync(join(tmpdir(), 'meterline-rest-doc-'));
      variables.set('BASE', harness.url);
      for (const token of doc.tokens) variables.set(token.variable, harness.token(token.sub, token.scopes, token.email));
      // As the setup's `curl .../v1/accounts` line makes it, on the tenant's platform account.
      const account = await harness.platform.accounts.create({ type: 'express', business_profile: { name: doc.accountName } });
      variables.set('ACCOUNT_ID', account.id);
      // As the setup exports it: the local Stripe server, whose test clock one example moves.
      variables.set('STRIPE_URL', stripeServer.url);
    });
    afterAll(async () => {
      await harness?.close();
      await stripeServer?.close();
      if (workDir) rmSync(workDir, { recursive: true, force: true });
    });

    for (const example of doc.examples) {
      it(example.heading, async () => {
        await stripeServer.webhooks.flush(); // what a real user would have received by the time they type the next command
        const run = await runExample(example, variables, workDir);
        requests.push(...run.requests);
        if (run.code !== 0) {
          throw new Error(`"${example.heading}" (docs/rest.md line ${example.line}) failed: bash exited with ${run.code}\n${run.stderr}${run.stdout}`);
        }
        for (const name of assignedVariables(example.script)) {
          const value = run.variables.get(name);
          if (value === undefined || value === '' || value === 'null') {
            throw new Error(`"${example.heading}" (docs/rest.md line ${example.line}): ${name} was captured as ${JSON.stringify(value)}\n${run.stdout}`);
          }
          variables.set(name, value);
        }
        if (!run.response) throw new Error(`"${example.heading}" (docs/rest.md line ${example.line}) made no HTTP request`);
        const problems = compareResponse(example.expected, run.response, variables);
        if (problems.length > 0) {
          throw new Error(
            `"${example.heading}" (docs/rest.md line ${example.line}) no longer gives the documented response:\n` +
              problems.map((p) => `  - ${p}`).join('\n') +
              `\nActual response:\n${run.response.statusLine}\n${[...run.response.headers].map(([name, value]) => `${name}: ${value}`).join('\n')}\n\n${pretty(run.response.body)}`,
          );
        }
      });
    }

    it('calls every route Meterline serves in some example', () => {
      const app = composeHttp(harness.service.services);
      const routes = servedRoutes(app);
      expect(routes.length).toBeGreaterThan(30);
      const missing = routes.filter((route) => !requests.some((request) => route.matches(request))).map((route) => route.name);
      if (missing.length > 0) throw new Error(`No example in docs/rest.md calls these routes (add one each):\n${missing.map((name) => `  - ${name}`).join('\n')}`);
    });
  });
});

describe('the comparison of a response with the document', () => {
  const problemsOf = (expected: unknown, actual: unknown, variables: Record<string, string> = {}) => {
    const problems: string[] = [];
    compareJson(expected, actual, 'body', new Map(Object.entries(variables)), problems);
    return problems;
  };

  it('names the field and both values when a value differs', () => {
    expect(problemsOf({ policy: { price: '10.00' } }, { policy: { price: '12.00' } })).toEqual(['body.policy.price: expected "10.00", got "12.00"']);
  });

  it('reports keys the document lacks and keys the response lacks', () => {
    expect(problemsOf({ a: 1, b: 2 }, { a: 1, c: 3 })).toEqual(['body.b: missing (expected 2)', 'body.c: not in the document (got 3)']);
  });

  it('accepts any id, timestamp or url where the document says so, and nothing else there', () => {
    expect(problemsOf({ id: '<id>', at: '<timestamp>', link: '<url>', x: '<any>' }, { id: 'in_1Abc', at: '2025-01-15T12:00:00.000Z', link: 'http://x/y', x: { n: 1 } })).toEqual([]);
    expect(problemsOf({ id: '<id>' }, { id: 42 })).toEqual(['body.id: expected "<id>", got 42']);
    expect(problemsOf({ at: '<timestamp>' }, { at: 'yesterday' })).toEqual(['body.at: expected "<timestamp>", got "yesterday"']);
  });

  it('compares a captured variable by its value', () => {
    expect(problemsOf({ apiId: '$API_ID' }, { apiId: 'a-1' }, { API_ID: 'a-1' })).toEqual([]);
    expect(problemsOf({ apiId: '$API_ID' }, { apiId: 'a-2' }, { API_ID: 'a-1' })).toEqual(['body.apiId: expected "$API_ID", got "a-2"']);
  });

  it('compares the status line and the body of a whole response', () => {
    const expected = { status: 201, reason: 'Created', headers: [{ name: 'Location', value: '/x/<id>' }], body: '{"ok": true}' };
    const actual: ActualResponse = { statusLine: 'HTTP/1.1 200 OK', headers: new Map([['location', '/x/1']]), body: '{"ok":false}' };
    expect(compareResponse(expected, actual, new Map())).toEqual(['status: expected "HTTP/1.1 201 Created", got "HTTP/1.1 200 OK"', 'body.ok: expected true, got false']);
  });
});

interface ExampleRun {
  code: number | null;
  stdout: string;
  stderr: string;
  response?: ActualResponse;
  variables: Map<string, string>;
  requests: string[];
}

/**
 * Runs one example's text with bash, as a reader would paste it, in a fresh shell that has the
 * variables earlier examples captured. Two shell functions observe without changing anything:
 * `curl` also dumps the response headers and notes the request, and `date` answers with the
 * billing clock's time.
 */
async function runExample(example: DocExample, variables: ReadonlyMap<string, string>, cwd: string): Promise<ExampleRun> {
  const headersFile = join(cwd, '.headers');
  const variablesFile = join(cwd, '.variables');
  rmSync(headersFile, { force: true });
  rmSync(variablesFile, { force: true });
  const handOn = assignedVariables(example.script)
    .map((name) => `printf '%s\\0%s\\0' ${name} "\${${name}-}" >> "$ML_VARIABLES"`)
    .join('\n');
  const script = [
    'set -euo pipefail',
    'date() { command date -u -d "@$ML_NOW" "$@"; }',
    `curl() { command curl -D "$ML_HEADERS" -w '%{stderr}ML-REQUEST %{method} %{url_effective}\\n' "$@"; }`,
    example.script,
    handOn,
  ].join('\n');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: cwd,
    LANG: 'C.UTF-8',
    ...Object.fromEntries(variables),
    ML_HEADERS: headersFile,
    ML_VARIABLES: variablesFile,
    ML_NOW: String(stripeServer.clock.now()),
  };
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn('bash', ['-c', script], { cwd, env, timeout: 20_000 });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    child.on('close', (exitCode) => resolve({ code: exitCode, stdout: out, stderr: err }));
  });
  const requests = stderr
    .split('\n')
    .filter((line) => line.startsWith('ML-REQUEST '))
    .map((line) => {
      const [, method, url] = line.split(' ');
      return `${method} ${new URL(url!).pathname}`;
    });
  const captured = new Map<string, string>();
  if (existsSync(variablesFile)) {
    const parts = readFileSync(variablesFile, 'utf8').split('\0');
    for (let i = 0; i + 1 < parts.length; i += 2) captured.set(parts[i]!, parts[i + 1]!);
  }
  const run: ExampleRun = { code, stdout, stderr: stderr.split('\n').filter((l) => !l.startsWith('ML-REQUEST ')).join('\n'), variables: captured, requests };
  if (existsSync(headersFile)) run.response = { ...lastHeaderBlock(readFileSync(headersFile, 'utf8')), body: stdout };
  return run;
}

/** The final response's status line and headers (a `100 Continue` may come first). */
function lastHeaderBlock(dump: string): Omit<ActualResponse, 'body'> {
  const blocks = dump.split(/\r?\n\r?\n/).filter((block) => block.startsWith('HTTP/'));
  const lines = (blocks[blocks.length - 1] ?? '').split(/\r?\n/);
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { statusLine: (lines[0] ?? '').trim(), headers };
}

interface ServedRoute {
  name: string;
  matches(request: string): boolean;
}

/** Every method and path the express application routes, nested routers included. */
function servedRoutes(app: Express): ServedRoute[] {
  const routes: ServedRoute[] = [];
  type Layer = { route?: { path: string; methods: Record<string, boolean> }; handle?: { stack?: Layer[] } };
  const walk = (stack: readonly Layer[]) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const method of Object.keys(layer.route.methods).filter((m) => m !== '_all')) {
          const name = `${method.toUpperCase()} ${layer.route.path}`;
          const pattern = new RegExp(`^${method.toUpperCase()} ${layer.route.path.replace(/[.]/g, '\\.').replace(/:[A-Za-z0-9_]+/g, '[^/]+')}$`);
          routes.push({ name, matches: (request) => pattern.test(request) });
        }
      } else if (layer.handle?.stack) {
        walk(layer.handle.stack);
      }
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack);
  return routes;
}

function pretty(body: string): string {
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return body;
  }
}
