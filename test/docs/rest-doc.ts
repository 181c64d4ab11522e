import { STATUS_CODES } from 'node:http';

/**
 * Reads docs/rest.md as the test runs it, and compares what an example printed with what the
 * document says it prints. The conventions are the document's own (its section "How to read the
 * examples"); this file is their one implementation.
 *
 * - An example is a `sh` fence followed by an `http` fence (prose may sit between them), under
 *   the nearest `###` heading, which names it. Every `sh` fence that uses `$BASE` must be one.
 * - The `http` fence is the response: a status line, optional header lines that must be present,
 *   a blank line, then the body as the example prints it (JSON, compared by value; or text, whose
 *   lines must appear in that order, `...` standing for anything).
 * - In expected strings, `<id>`, `<timestamp>`, `<epoch-ms>`, `<url>`, `<text>` stand for a value that changes
 *   from run to run, and `$NAME` for the value of a shell variable an earlier example captured.
 *   The whole value `"<any>"` matches any JSON value.
 */
export interface DocExample {
  heading: string;
  /** 1-based line of the `sh` fence in docs/rest.md, for messages. */
  line: number;
  script: string;
  expected: ExpectedResponse;
}

export interface ExpectedResponse {
  status: number;
  reason: string;
  headers: Array<{ name: string; value: string }>;
  body: string;
}

/** A token the setup mints with the CLI: `NAME_TOKEN=$(npm run --silent meterline -- token ...)`. */
export interface SetupToken {
  variable: string;
  sub: string;
  scopes: string[];
  email?: string;
}

export interface RestDoc {
  examples: DocExample[];
  tokens: SetupToken[];
  /** The business name the setup gives the publisher's connected account (`business_profile[name]`). */
  accountName: string;
}

interface Fence {
  info: string;
  text: string;
  line: number;
  heading: string;
}

export function parseRestDoc(markdown: string): RestDoc {
  const fences = readFences(markdown);
  const examples: DocExample[] = [];
  for (let i = 0; i < fences.length; i += 1) {
    const fence = fences[i]!;
    if (fence.info !== 'sh' || !fence.text.includes('$BASE')) continue;
    const response = fences[i + 1];
    if (response?.info !== 'http') {
      throw new Error(`docs/rest.md line ${fence.line} ("${fence.heading}"): a request without the response it gives (an \`http\` block must follow)`);
    }
    examples.push({ heading: fence.heading, line: fence.line, script: fence.text, expected: parseResponse(response) });
    i += 1;
  }
  const headings = examples.map((example) => example.heading);
  const repeated = headings.find((heading, index) => headings.indexOf(heading) !== index);
  if (repeated !== undefined) throw new Error(`docs/rest.md: two examples under the heading "${repeated}"; each needs its own`);
  const accountLine = fences.flatMap((f) => (f.info === 'sh' ? f.text.split('\n') : [])).find((line) => /ACCOUNT_ID=\$\(curl .*\/v1\/accounts/.test(line));
  const accountName = accountLine === undefined ? undefined : /business_profile\[name\]=([^'"]+)/.exec(accountLine)?.[1];
  if (accountName === undefined) throw new Error('docs/rest.md: the setup must create ACCOUNT_ID with curl .../v1/accounts -d \'business_profile[name]=...\'');
  return { examples, tokens: readTokens(fences), accountName };
}

function readFences(markdown: string): Fence[] {
  const lines = markdown.split('\n');
  const fences: Fence[] = [];
  let heading = '(before any heading)';
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i]!;
    const headingMatch = /^#{1,6}\s+(.*)$/.exec(line);
    if (headingMatch) {
      heading = headingMatch[1]!.trim();
      continue;
    }
    const open = /^```(\S*)/.exec(line);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i += 1; i < lines.length && !lines[i]!.startsWith('```'); i += 1) body.push(lines[i]!);
    if (i >= lines.length) throw new Error(`docs/rest.md line ${start + 1}: a code block that is never closed`);
    fences.push({ info: open[1] ?? '', text: body.join('\n'), line: start + 1, heading });
  }
  return fences;
}

function parseResponse(fence: Fence): ExpectedResponse {
  const lines = fence.text.split('\n');
  const statusLine = /^HTTP\/1\.1 (\d{3}) (.+)$/.exec(lines[0] ?? '');
  if (!statusLine) throw new Error(`docs/rest.md line ${fence.line}: a response starts with a status line such as "HTTP/1.1 200 OK"`);
  const status = Number(statusLine[1]);
  const reason = statusLine[2]!;
  if (STATUS_CODES[status] !== reason) throw new Error(`docs/rest.md line ${fence.line}: "${lines[0]}" should read "HTTP/1.1 ${status} ${STATUS_CODES[status]}"`);
  const headers: ExpectedResponse['headers'] = [];
  let i = 1;
  for (; i < lines.length && lines[i]!.trim() !== ''; i += 1) {
    const header = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(lines[i]!);
    if (!header) throw new Error(`docs/rest.md line ${fence.line + i}: "${lines[i]}" is not a header line (a blank line separates the body)`);
    headers.push({ name: header[1]!, value: header[2]! });
  }
  return { status, reason, headers, body: lines.slice(i + 1).join('\n').trim() };
}

function readTokens(fences: readonly Fence[]): SetupToken[] {
  const tokens: SetupToken[] = [];
  const pattern = /^(?:export\s+)?([A-Z][A-Z0-9_]*_TOKEN)=\$\(npm run --silent meterline -- token (.*)\)\s*$/;
  for (const fence of fences.filter((f) => f.info === 'sh')) {
    for (const line of fence.text.split('\n')) {
      const match = pattern.exec(line.trim());
      if (!match) continue;
      const flags = new Map<string, string>();
      for (const flag of match[2]!.matchAll(/--([a-z-]+)\s+("([^"]*)"|\S+)/g)) flags.set(flag[1]!, flag[3] ?? flag[2]!);
      const unknown = [...flags.keys()].find((flag) => !['sub', 'scope', 'email'].includes(flag));
      if (unknown !== undefined) throw new Error(`docs/rest.md: the test does not mint tokens with --${unknown} (${match[1]})`);
      const sub = flags.get('sub');
      const scope = flags.get('scope');
      if (sub === undefined || scope === undefined) throw new Error(`docs/rest.md: ${match[1]} needs --sub and --scope`);
      const email = flags.get('email');
      tokens.push({ variable: match[1]!, sub, scopes: scope.split(/\s+/).filter(Boolean), ...(email === undefined ? {} : { email }) });
    }
  }
  return tokens;
}

/** The names a script assigns (`NAME=...` or `export NAME=...` at the start of a line): what it hands on. */
export function assignedVariables(script: string): string[] {
  const names = [...script.matchAll(/^\s*(?:export\s+)?([A-Z][A-Z0-9_]*)=/gm)].map((match) => match[1]!);
  return [...new Set(names)];
}

export interface ActualResponse {
  statusLine: string;
  /** Header names lower-cased. */
  headers: Map<string, string>;
  /** What the example printed. */
  body: string;
}

/** Every difference between the document's response and the actual one; empty when they agree. */
export function compareResponse(expected: ExpectedResponse, actual: ActualResponse, variables: ReadonlyMap<string, string>): string[] {
  const problems: string[] = [];
  const expectedStatus = `HTTP/1.1 ${expected.status} ${expected.reason}`;
  if (actual.statusLine !== expectedStatus) problems.push(`status: expected "${expectedStatus}", got "${actual.statusLine}"`);
  for (const header of expected.headers) {
    const value = actual.headers.get(header.name.toLowerCase());
    if (value === undefined) problems.push(`header ${header.name}: missing (expected "${header.value}")`);
    else if (!stringPattern(header.value, variables).test(value)) problems.push(`header ${header.name}: expected "${header.value}", got "${value}"`);
  }
  if (expected.body === '') {
    if (actual.body.trim() !== '') problems.push(`body: expected none, got ${JSON.stringify(actual.body.trim())}`);
  } else if (/^[{[]/.test(expected.body)) {
    let expectedJson: unknown;
    try {
      expectedJson = JSON.parse(expected.body);
    } catch (error) {
      return [...problems, `the document's body is not valid JSON: ${(error as Error).message}`];
    }
    let actualJson: unknown;
    try {
      actualJson = JSON.parse(actual.body);
    } catch {
      return [...problems, `body: expected JSON, got ${JSON.stringify(actual.body.slice(0, 300))}`];
    }
    compareJson(expectedJson, actualJson, 'body', variables, problems);
  } else {
    compareText(expected.body, actual.body, variables, problems);
  }
  return problems;
}

export function compareJson(expected: unknown, actual: unknown, path: string, variables: ReadonlyMap<string, string>, problems: string[]): void {
  if (expected === '<any>') return;
  if (typeof expected === 'string') {
    if (typeof actual !== 'string' || !stringPattern(expected, variables).test(actual)) problems.push(`${path}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
    return;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) {
      problems.push(`${path}: expected an array, got ${JSON.stringify(actual)}`);
      return;
    }
    if (actual.length !== expected.length) problems.push(`${path}: expected ${expected.length} items, got ${actual.length}: ${JSON.stringify(actual)}`);
    expected.forEach((item, index) => {
      if (index < actual.length) compareJson(item, actual[index], `${path}[${index}]`, variables, problems);
    });
    return;
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) {
      problems.push(`${path}: expected an object, got ${JSON.stringify(actual)}`);
      return;
    }
    const actualObject = actual as Record<string, unknown>;
    for (const [key, value] of Object.entries(expected)) {
      if (!(key in actualObject)) problems.push(`${path}.${key}: missing (expected ${JSON.stringify(value)})`);
      else compareJson(value, actualObject[key], `${path}.${key}`, variables, problems);
    }
    for (const key of Object.keys(actualObject)) {
      if (!(key in expected)) problems.push(`${path}.${key}: not in the document (got ${JSON.stringify(actualObject[key])})`);
    }
    return;
  }
  if (expected !== actual) problems.push(`${path}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

/** Text bodies (HTML pages): each expected line, in order, somewhere in the actual body; `...` is a reminder that lines are left out. */
function compareText(expected: string, actual: string, variables: ReadonlyMap<string, string>, problems: string[]): void {
  let from = 0;
  for (const line of expected.split('\n').map((l) => l.trim())) {
    if (line === '' || line === '...') continue;
    const pattern = new RegExp(stringPattern(line, variables).source.slice(1, -1));
    const found = pattern.exec(actual.slice(from));
    if (!found) {
      problems.push(`body: ${JSON.stringify(line)} not found${from > 0 ? ' after the lines before it' : ''}`);
      return;
    }
    from += found.index + found[0].length;
  }
}

const PLACEHOLDERS: Record<string, string> = {
  // A resource id: a UUID, or the billing engine's (prod_..., in_..., acct_...).
  '<id>': '[A-Za-z0-9_-]+',
  // ISO-8601 UTC ("2025-01-15T12:00:00.000Z"), or WSO2's "2025-01-15 12:00:00" with or without " UTC".
  '<timestamp>': '\\d{4}-\\d{2}-\\d{2}[T ]\\d{2}:\\d{2}:\\d{2}(?:\\.\\d+)?(?:Z| UTC)?',
  // WSO2's epoch milliseconds as a string.
  '<epoch-ms>': '\\d{13}',
  '<url>': 'https?://[^\\s"\']+',
  '<text>': '[\\s\\S]*',
};

/** The regular expression an expected string stands for (anchored). */
export function stringPattern(expected: string, variables: ReadonlyMap<string, string>): RegExp {
  const source = expected
    .split(/(<id>|<timestamp>|<epoch-ms>|<url>|<text>|\$[A-Z][A-Z0-9_]*)/)
    .map((part, index) => {
      if (index % 2 === 0) return escapeRegExp(part);
      if (part.startsWith('$')) {
        const value = variables.get(part.slice(1));
        if (value === undefined) throw new Error(`${part} is used in an expected response before an example sets it`);
        return escapeRegExp(value);
      }
      return PLACEHOLDERS[part]!;
    })
    .join('');
  return new RegExp(`^${source}$`);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
