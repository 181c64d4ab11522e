import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import * as ts from 'typescript';
import { engineNameAllowList, engineConstants, rules, type ArchitectureRules } from './architecture-rules';

/**
 * The import rules of docs/architecture.md, checked over the real import graph. The rules are one
 * table in test/architecture-rules.ts; this file builds the graph (TypeScript's parser, so
 * comments and strings never pass for imports), checks it, and checks the checker on small
 * made-up graphs.
 */

const ROOT = join(__dirname, '..');
/** The product and the dev-only packages; test/ and bench/ may import anything. */
const SCANNED = ['src', 'plugins', 'migrations', 'dev'];

interface SourceFile {
  readonly path: string;
  readonly text: string;
}

interface ImportEdge {
  readonly from: string;
  readonly to: string;
  readonly specifier: string;
  readonly line: number;
  readonly typeOnly: boolean;
}

// ---- the graph ----

function listSources(root: string, dirs: readonly string[]): SourceFile[] {
  const files: SourceFile[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules') walk(path);
      } else if (/\.(ts|cts|mts)$/.test(entry.name) && !entry.name.endsWith('.d.ts')) {
        files.push({ path, text: readFileSync(join(root, path), 'utf8') });
      }
    }
  };
  for (const dir of dirs) if (existsSync(join(root, dir))) walk(dir);
  return files.sort((a, b) => a.path.localeCompare(b.path));
}

function parse(file: SourceFile): ts.SourceFile {
  return ts.createSourceFile(file.path, file.text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
}

/** `./x` from `src/a/b.ts` → `src/a/x.ts` (or `src/a/x/index.ts`), as Node's resolution finds it. */
function resolveRelative(from: string, specifier: string, exists: (path: string) => boolean): string {
  const base = posix.normalize(posix.join(posix.dirname(from), specifier));
  const candidates = [base, `${base}.ts`, `${base}/index.ts`, base.replace(/\.js$/, '.ts')];
  return candidates.find(exists) ?? `${base}.ts`;
}

/**
 * Every static import, re-export, `import()` and `require()` with a literal specifier. A
 * `require(variable)` (the engine registry loading a module path from config) has no edge.
 */
function importsOf(file: SourceFile, exists: (path: string) => boolean): ImportEdge[] {
  const source = parse(file);
  const edges: ImportEdge[] = [];
  const add = (literal: ts.Node, typeOnly: boolean): void => {
    if (!ts.isStringLiteralLike(literal) || !literal.text.startsWith('.')) return;
    const line = source.getLineAndCharacterOfPosition(literal.getStart(source)).line + 1;
    edges.push({ from: file.path, to: resolveRelative(file.path, literal.text, exists), specifier: literal.text, line, typeOnly });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      const namedAllTypes =
        clause?.namedBindings !== undefined &&
        ts.isNamedImports(clause.namedBindings) &&
        clause.name === undefined &&
        clause.namedBindings.elements.length > 0 &&
        clause.namedBindings.elements.every((element) => element.isTypeOnly);
      add(node.moduleSpecifier, clause?.isTypeOnly === true || namedAllTypes);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier) {
      add(node.moduleSpecifier, node.isTypeOnly);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node.moduleReference.expression, node.isTypeOnly);
    } else if (ts.isCallExpression(node) && node.arguments.length === 1) {
      const callee = node.expression;
      const isImport = callee.kind === ts.SyntaxKind.ImportKeyword;
      const isRequire = ts.isIdentifier(callee) && callee.text === 'require';
      if (isImport || isRequire) add(node.arguments[0]!, false);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node.argument.literal, true);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return edges;
}

function buildImportGraph(files: readonly SourceFile[], exists: (path: string) => boolean): ImportEdge[] {
  return files.flatMap((file) => importsOf(file, exists));
}

// ---- the checks ----

function partOf(path: string, parts: ArchitectureRules['parts']): string | undefined {
  let best: { part: string; length: number } | undefined;
  for (const [part, paths] of Object.entries(parts)) {
    for (const prefix of paths) {
      const matches = prefix.endsWith('/') ? path.startsWith(prefix) : path === prefix;
      if (matches && (best === undefined || prefix.length > best.length)) best = { part, length: prefix.length };
    }
  }
  return best?.part;
}

/** `plugins/stripe/x.ts` in part `engines` (holding `plugins/`) → `plugins/stripe/`. */
function unitFolder(path: string, part: string, parts: ArchitectureRules['parts']): string | undefined {
  const prefix = parts[part]?.find((p) => p.endsWith('/') && path.startsWith(p));
  if (prefix === undefined) return undefined;
  const rest = path.slice(prefix.length).split('/');
  return rest.length > 1 ? `${prefix}${rest[0]}/` : undefined;
}

function describeEdge(edge: ImportEdge): string {
  return `${edge.from}:${edge.line} imports ${edge.typeOnly ? 'type from ' : ''}'${edge.specifier}' (${edge.to})`;
}

function isKnown(edge: ImportEdge, known: ArchitectureRules['knownViolations']): boolean {
  return known.some((k) => k.from === edge.from && k.to === edge.to);
}

/** Files in the scanned folders that belong to no part: the table must say where they stand. */
function checkPartsCoverFiles(files: readonly SourceFile[], r: ArchitectureRules): string[] {
  return files
    .filter((file) => partOf(file.path, r.parts) === undefined)
    .map((file) => `${file.path} belongs to no part: add its folder to test/architecture-rules.ts and docs/architecture.md`);
}

/** Every import between parts must be in the table (or a known violation); messages say which rule broke. */
function checkImports(edges: readonly ImportEdge[], r: ArchitectureRules): string[] {
  const problems: string[] = [];
  for (const edge of edges) {
    const from = partOf(edge.from, r.parts);
    if (from === undefined) continue; // reported by checkPartsCoverFiles
    const to = partOf(edge.to, r.parts);
    if (isKnown(edge, r.knownViolations)) continue;
    if (to === undefined) {
      const where = edge.to.split('/')[0];
      problems.push(
        `${describeEdge(edge)}: ${where === 'test' || where === 'bench' ? `src/, plugins/ and dev/ never import ${where}/` : 'the imported file belongs to no part'}`,
      );
      continue;
    }
    if (from === to) {
      if (r.isolatedFolders.includes(from)) {
        const fromUnit = unitFolder(edge.from, from, r.parts);
        const toUnit = unitFolder(edge.to, to, r.parts);
        if (fromUnit !== toUnit) {
          problems.push(`${describeEdge(edge)}: ${fromUnit ?? edge.from} may not import ${toUnit ?? edge.to} (each folder of ${from} stands alone)`);
        }
      }
      continue;
    }
    const allowed = r.allowed[from] ?? [];
    if (allowed.includes(to)) {
      if (r.privateFiles.pattern.test(edge.to) && !r.privateFiles.alsoImportedBy.includes(from)) {
        problems.push(`${describeEdge(edge)}: ${edge.to} is private to ${to} (other parts reach its tables through its services)`);
      }
      continue;
    }
    const devRule = edge.to.startsWith('dev/') && !edge.from.startsWith('dev/') ? ' (src/, plugins/ and migrations/ never import dev/)' : '';
    problems.push(`${describeEdge(edge)}: ${from} may not import ${to}${devRule}; ${from} may import ${allowed.length > 0 ? allowed.join(', ') : 'no other part'}`);
  }
  return problems;
}

/** Known violations that no longer happen: delete them, so the list only shrinks. */
function checkKnownViolationsStillHappen(edges: readonly ImportEdge[], r: ArchitectureRules): string[] {
  return r.knownViolations
    .filter((k) => !edges.some((edge) => edge.from === k.from && edge.to === k.to))
    .map((k) => `${k.from} no longer imports ${k.to}: delete this known violation from test/architecture-rules.ts`);
}

/** The cycles of a directed graph: its strongly connected components of more than one node (Tarjan). */
function cycles(nodes: readonly string[], next: (node: string) => readonly string[]): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let counter = 0;
  const connect = (node: string): void => {
    index.set(node, counter);
    low.set(node, counter);
    counter += 1;
    stack.push(node);
    onStack.add(node);
    for (const to of next(node)) {
      if (!index.has(to)) {
        connect(to);
        low.set(node, Math.min(low.get(node)!, low.get(to)!));
      } else if (onStack.has(to)) {
        low.set(node, Math.min(low.get(node)!, index.get(to)!));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const node of nodes) if (!index.has(node)) connect(node);
  return found;
}

/** Cycles between parts in the real graph (known violations left out: each says what it closes). */
function checkPartCycles(edges: readonly ImportEdge[], r: ArchitectureRules): string[] {
  const example = new Map<string, ImportEdge>();
  const next = new Map<string, Set<string>>();
  for (const edge of edges) {
    const from = partOf(edge.from, r.parts);
    const to = partOf(edge.to, r.parts);
    if (from === undefined || to === undefined || from === to || isKnown(edge, r.knownViolations)) continue;
    if (!next.has(from)) next.set(from, new Set());
    next.get(from)!.add(to);
    if (!example.has(`${from} ${to}`)) example.set(`${from} ${to}`, edge);
  }
  return cycles([...next.keys()].sort(), (node) => [...(next.get(node) ?? [])].sort()).map((component) => {
    const inside = [...example.entries()]
      .filter(([pair]) => component.includes(pair.split(' ')[0]!) && component.includes(pair.split(' ')[1]!))
      .map(([pair, edge]) => `  ${pair.replace(' ', ' -> ')}: ${describeEdge(edge)}`);
    return `the parts ${component.join(', ')} import each other in a cycle:\n${inside.join('\n')}`;
  });
}

/** The table itself must be a hierarchy: were it not, obeying it could still make cycles. */
function checkTableIsAcyclic(r: ArchitectureRules): string[] {
  const unknown = Object.entries(r.allowed).flatMap(([from, tos]) =>
    [from, ...tos].filter((part) => !(part in r.parts)).map((part) => `the table names ${part}, which is not a part`),
  );
  const missing = Object.keys(r.parts)
    .filter((part) => !(part in r.allowed))
    .map((part) => `the part ${part} has no row in the table`);
  const loops = cycles(Object.keys(r.allowed).sort(), (part) => r.allowed[part] ?? []).map(
    (component) => `the table lets ${component.join(', ')} import each other in a cycle`,
  );
  return [...unknown, ...missing, ...loops];
}

interface EngineNameHit {
  readonly file: string;
  readonly line: number;
  readonly text: string;
}

/**
 * Engine names (the folders under plugins/) and engine constants in code: identifiers, string
 * and template literals, module specifiers. Comments are not code: "Stripe: 35 days" in a comment
 * explains, `'stripe'` in code decides.
 */
function findEngineNames(files: readonly SourceFile[], engines: readonly string[], constants: readonly string[]): EngineNameHit[] {
  const namePattern = engines.length > 0 ? new RegExp(engines.map(escapeRegExp).join('|'), 'i') : undefined;
  const hits: EngineNameHit[] = [];
  for (const file of files) {
    const source = parse(file);
    const visit = (node: ts.Node): void => {
      const text = ts.isIdentifier(node) || ts.isPrivateIdentifier(node)
        ? node.text
        : ts.isStringLiteralLike(node) || ts.isTemplateLiteralToken(node)
          ? node.text
          : undefined;
      if (text !== undefined && ((namePattern?.test(text) ?? false) || constants.includes(text))) {
        const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
        hits.push({ file: file.path, line, text: node.getText(source) });
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return hits;
}

/**
 * The string values engines declare in `plugins/<engine>/capabilities.ts` (signature headers,
 * secret keys, their own reasons): the core reads them from the engine, so none may be written
 * under src/.
 */
/**
 * The string values the engine port itself declares as literal types (e.g. `invoicing: 'engine' |
 * 'meterline'`, the own invoice kinds): the core's own words, which engines answer with, never an
 * engine's constants.
 */
function portVocabulary(files: readonly SourceFile[]): Set<string> {
  const words = new Set<string>();
  for (const file of files.filter((f) => f.path === 'src/monetization/monetization.ts' || f.path === 'src/monetization/capabilities.ts')) {
    const visit = (node: ts.Node): void => {
      if (ts.isLiteralTypeNode(node) && ts.isStringLiteral(node.literal)) words.add(node.literal.text);
      ts.forEachChild(node, visit);
    };
    visit(parse(file));
  }
  return words;
}

function declaredEngineConstants(files: readonly SourceFile[]): string[] {
  const portWords = portVocabulary(files);
  const values = new Set<string>();
  for (const file of files.filter((f) => /^plugins\/[^/]+\/capabilities\.ts$/.test(f.path))) {
    const visit = (node: ts.Node): void => {
      const isModuleName = node.parent !== undefined && (ts.isImportDeclaration(node.parent) || ts.isExportDeclaration(node.parent));
      if (ts.isStringLiteralLike(node) && !isModuleName) values.add(node.text);
      ts.forEachChild(node, visit);
    };
    visit(parse(file));
  }
  return [...values].filter((value) => !portWords.has(value)).sort();
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function checkEngineNames(
  hits: readonly EngineNameHit[],
  allowList: readonly { file: string; text: string }[],
): { offenders: string[]; stale: string[] } {
  const allowed = (hit: EngineNameHit): boolean => allowList.some((a) => a.file === hit.file && a.text === hit.text);
  return {
    offenders: hits
      .filter((hit) => !allowed(hit))
      .map((hit) => `${hit.file}:${hit.line}: ${hit.text}: no engine name or engine constant in src/ (an engine declares it as a capability)`),
    stale: allowList
      .filter((a) => !hits.some((hit) => hit.file === a.file && hit.text === a.text))
      .map((a) => `${a.file} no longer has ${a.text}: delete it from engineNameAllowList in test/architecture-rules.ts`),
  };
}

/** The table as docs/architecture.md shows it, between its two markers. */
function renderTable(r: ArchitectureRules): string {
  const rows = Object.keys(r.parts).map((part) => {
    const paths = r.parts[part]!.map((p) => `\`${p}\``).join(', ');
    const allowed = (r.allowed[part] ?? []).join(', ') || '—';
    return `| ${part} | ${paths} | ${allowed} |`;
  });
  return ['| Part | Paths | May import |', '|---|---|---|', ...rows].join('\n');
}

const TABLE_START = '<!-- import-rules:start (generated from test/architecture-rules.ts; test/architecture.test.ts checks it) -->';
const TABLE_END = '<!-- import-rules:end -->';

// ---- the real tree ----

describe('architecture: the real import graph follows docs/architecture.md', () => {
  const files = listSources(ROOT, SCANNED);
  const exists = (path: string): boolean => existsSync(join(ROOT, path)) && statSync(join(ROOT, path)).isFile();
  const edges = buildImportGraph(files, exists);

  it('finds the graph (a parser that saw nothing would pass every rule)', () => {
    expect(files.length).toBeGreaterThan(100);
    expect(edges.length).toBeGreaterThan(300);
  });

  it('every file under src/, plugins/, migrations/ and dev/ belongs to a part', () => {
    expect(checkPartsCoverFiles(files, rules)).toEqual([]);
  });

  it('the table is a hierarchy: every part has a row, and no rows make a cycle', () => {
    expect(checkTableIsAcyclic(rules)).toEqual([]);
  });

  it('every import between parts is one the table allows', () => {
    expect(checkImports(edges, rules)).toEqual([]);
  });

  it('no two parts import each other, directly or around a cycle', () => {
    expect(checkPartCycles(edges, rules)).toEqual([]);
  });

  it('every known violation still happens (a fixed one is deleted from the list)', () => {
    expect(checkKnownViolationsStillHappen(edges, rules)).toEqual([]);
  });

  it('no engine name or engine constant appears in code under src/', () => {
    const engines = readdirSync(join(ROOT, 'plugins'), { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
    expect(engines.length).toBeGreaterThan(0);
    const declared = declaredEngineConstants(files);
    expect(declared.length).toBeGreaterThan(0);
    const hits = findEngineNames(
      files.filter((file) => file.path.startsWith('src/')),
      engines,
      [...engineConstants, ...declared],
    );
    const { offenders, stale } = checkEngineNames(hits, engineNameAllowList);
    expect(offenders).toEqual([]);
    expect(stale).toEqual([]);
  });

  it('docs/architecture.md shows the table of test/architecture-rules.ts', () => {
    const doc = readFileSync(join(ROOT, 'docs/architecture.md'), 'utf8');
    const start = doc.indexOf(TABLE_START);
    const end = doc.indexOf(TABLE_END);
    expect(start).toBeGreaterThanOrEqual(0);
    expect(end).toBeGreaterThan(start);
    const shown = doc.slice(start + TABLE_START.length, end).trim();
    const expected = renderTable(rules);
    if (shown !== expected) throw new Error(`docs/architecture.md's import table differs from test/architecture-rules.ts; put this between its markers:\n${expected}`);
  });
});

// ---- the checker on made-up graphs ----

describe('architecture checker', () => {
  const made: ArchitectureRules = {
    parts: {
      http: ['src/http/'],
      usage: ['src/usage/'],
      port: ['src/usage/port.ts'],
      domain: ['src/domain/'],
      engines: ['plugins/'],
      dev: ['dev/'],
    },
    allowed: { http: ['usage', 'port', 'domain'], usage: ['port', 'domain'], port: ['domain'], domain: [], engines: ['port'], dev: ['http'] },
    privateFiles: { pattern: /\.repository\.ts$/, alsoImportedBy: ['dev'] },
    isolatedFolders: ['engines'],
    knownViolations: [],
  };
  const sources = (files: Record<string, string>): SourceFile[] => Object.entries(files).map(([path, text]) => ({ path, text }));
  const graphOf = (files: Record<string, string>): ImportEdge[] => {
    const list = sources(files);
    return buildImportGraph(list, (path) => list.some((file) => file.path === path));
  };

  it('reads imports, re-exports, import() and require(), and not comments or strings', () => {
    const edges = graphOf({
      'src/http/a.ts': [
        "import { b } from '../usage/b';",
        "import type { P } from '../usage/port';",
        "export { d } from '../domain/d';",
        "const lazy = () => import('../usage/c');",
        "const c = require('../usage/c');",
        "// import { x } from '../usage/x';",
        "const text = \"import { y } from '../usage/y'\";",
      ].join('\n'),
      'src/usage/b.ts': '',
      'src/usage/c.ts': '',
      'src/usage/port.ts': '',
      'src/domain/d.ts': '',
    });
    expect(edges.map((e) => [e.to, e.line, e.typeOnly])).toEqual([
      ['src/usage/b.ts', 1, false],
      ['src/usage/port.ts', 2, true],
      ['src/domain/d.ts', 3, false],
      ['src/usage/c.ts', 4, false],
      ['src/usage/c.ts', 5, false],
    ]);
  });

  it('reports an import the table does not allow, naming the file, line, import and rule', () => {
    const edges = graphOf({ 'src/usage/a.ts': "\nimport { route } from '../http/route';", 'src/http/route.ts': '' });
    expect(checkImports(edges, made)).toEqual([
      "src/usage/a.ts:2 imports '../http/route' (src/http/route.ts): usage may not import http; usage may import port, domain",
    ]);
  });

  it('tells a part from the port inside its folder by the longest path', () => {
    const edges = graphOf({
      'plugins/x/a.ts': "import type { P } from '../../src/usage/port';\nimport { s } from '../../src/usage/store';",
      'src/usage/port.ts': '',
      'src/usage/store.ts': '',
    });
    expect(checkImports(edges, made)).toEqual([
      "plugins/x/a.ts:2 imports '../../src/usage/store' (src/usage/store.ts): engines may not import usage; engines may import port",
    ]);
  });

  it('reports src importing dev/ or test/', () => {
    const edges = graphOf({
      'src/http/a.ts': "import { s } from '../../dev/server';\nimport { h } from '../../test/helpers/h';",
      'dev/server.ts': '',
      'test/helpers/h.ts': '',
    });
    expect(checkImports(edges, made)).toEqual([
      "src/http/a.ts:1 imports '../../dev/server' (dev/server.ts): http may not import dev (src/, plugins/ and migrations/ never import dev/); http may import usage, port, domain",
      "src/http/a.ts:2 imports '../../test/helpers/h' (test/helpers/h.ts): src/, plugins/ and dev/ never import test/",
    ]);
  });

  it("reports another part importing a part's repository, which its own part and the exceptions may", () => {
    const edges = graphOf({
      'src/http/a.ts': "import type { Row } from '../usage/events.repository';",
      'src/usage/b.ts': "import { EventsRepository } from './events.repository';",
      'dev/c.ts': "import { EventsRepository } from '../src/usage/events.repository';",
      'src/usage/events.repository.ts': '',
    });
    expect(checkImports(edges, { ...made, allowed: { ...made.allowed, dev: ['usage'] } })).toEqual([
      "src/http/a.ts:1 imports type from '../usage/events.repository' (src/usage/events.repository.ts): src/usage/events.repository.ts is private to usage (other parts reach its tables through its services)",
    ]);
  });

  it('reports an engine importing another engine', () => {
    const edges = graphOf({ 'plugins/x/a.ts': "import { b } from '../y/b';", 'plugins/y/b.ts': '' });
    expect(checkImports(edges, made)).toEqual([
      "plugins/x/a.ts:1 imports '../y/b' (plugins/y/b.ts): plugins/x/ may not import plugins/y/ (each folder of engines stands alone)",
    ]);
  });

  it('accepts a known violation, and asks to delete it once it is gone', () => {
    const edges = graphOf({ 'src/usage/a.ts': "import { route } from '../http/route';", 'src/http/route.ts': '' });
    const withKnown = { ...made, knownViolations: [{ from: 'src/usage/a.ts', to: 'src/http/route.ts', until: 'the route moves' }] };
    expect(checkImports(edges, withKnown)).toEqual([]);
    expect(checkKnownViolationsStillHappen(edges, withKnown)).toEqual([]);
    expect(checkKnownViolationsStillHappen([], withKnown)).toEqual([
      'src/usage/a.ts no longer imports src/http/route.ts: delete this known violation from test/architecture-rules.ts',
    ]);
  });

  it('reports a cycle between parts, with an import for each step', () => {
    const edges = graphOf({
      'src/http/a.ts': "import { b } from '../usage/b';",
      'src/usage/b.ts': "import { a } from '../http/a';",
    });
    expect(checkPartCycles(edges, made)).toEqual([
      "the parts http, usage import each other in a cycle:\n  http -> usage: src/http/a.ts:1 imports '../usage/b' (src/usage/b.ts)\n  usage -> http: src/usage/b.ts:1 imports '../http/a' (src/http/a.ts)",
    ]);
  });

  it('reports a table that allows a cycle, or names a part it does not define', () => {
    const loose = { ...made, allowed: { ...made.allowed, domain: ['http', 'nowhere'] } };
    expect(checkTableIsAcyclic(loose)).toEqual([
      'the table names nowhere, which is not a part',
      'the table lets domain, http, port, usage import each other in a cycle',
    ]);
    expect(checkTableIsAcyclic(made)).toEqual([]);
  });

  it('reports files that belong to no part', () => {
    expect(checkPartsCoverFiles(sources({ 'src/new-thing.ts': '', 'src/http/a.ts': '' }), made)).toEqual([
      'src/new-thing.ts belongs to no part: add its folder to test/architecture-rules.ts and docs/architecture.md',
    ]);
  });

  it("takes an engine's declared string values as its constants, not its imports", () => {
    const files = sources({
      'plugins/acme/capabilities.ts': [
        "import type { EngineCapabilities } from '../../src/monetization/capabilities';",
        "export const acmeCapabilities = { webhooks: { signatureHeaders: ['Acme-Signature'] }, first: (r: string) => r === 'first_invoice' };",
      ].join('\n'),
      'plugins/acme/other.ts': "export const notDeclared = 'elsewhere';",
    });
    expect(declaredEngineConstants(files)).toEqual(['Acme-Signature', 'first_invoice']);
  });

  it('finds engine names and constants in code with their line, not in comments, and honours the allow-list', () => {
    const files = sources({
      'src/usage/a.ts': [
        '/** Acme: 35 days. */',
        "const engine = 'acme';",
        "export const acmeSecret = req.get('acme-signature');",
        "if (reason === 'first_invoice') {}",
        '// acme',
        'const t = `x ${y} acme`;',
      ].join('\n'),
    });
    const hits = findEngineNames(files, ['acme'], ['first_invoice']);
    expect(hits.map((h) => `${h.line} ${h.text}`)).toEqual(["2 'acme'", '3 acmeSecret', "3 'acme-signature'", "4 'first_invoice'", '6 } acme`']);
    const { offenders, stale } = checkEngineNames(hits, [
      { file: 'src/usage/a.ts', text: "'acme'" },
      { file: 'src/usage/gone.ts', text: "'acme'" },
    ]);
    expect(offenders).toEqual([
      'src/usage/a.ts:3: acmeSecret: no engine name or engine constant in src/ (an engine declares it as a capability)',
      "src/usage/a.ts:3: 'acme-signature': no engine name or engine constant in src/ (an engine declares it as a capability)",
      "src/usage/a.ts:4: 'first_invoice': no engine name or engine constant in src/ (an engine declares it as a capability)",
      'src/usage/a.ts:6: } acme`: no engine name or engine constant in src/ (an engine declares it as a capability)',
    ]);
    expect(stale).toEqual(["src/usage/gone.ts no longer has 'acme': delete it from engineNameAllowList in test/architecture-rules.ts"]);
  });
});
