import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { composeServices } from '../src/composition';
import { parseConfig } from '../src/config/load';
import { migrateLatest } from './helpers/migrations';
import { createLogger } from '../src/logger';
import { freeEngine } from '../src/monetization/free-engine';
import type { EngineDependencies, MonetizationEngineFactory } from '../src/monetization/monetization';
import { EngineRegistry } from '../src/monetization/registry';
import * as tenantDirectory from '../src/monetization/tenant-directory';
import { startService } from '../src/service';

/**
 * The composition root (src/composition.ts) builds each part once per process, and nothing else
 * builds services: http/ and cli/ receive them. Construction only, so one SQLite file suffices.
 */

const logger = createLogger('silent');

function sqliteConfig() {
  const filename = join(mkdtempSync(join(tmpdir(), 'meterline-composition-')), 'apim.db');
  return parseConfig({ database: { apim_db: { filename } }, apim: { monetization: { monetization_impl: 'free' } } }, {}, 'test');
}

/** The free engine, counting how often it is built and keeping what it was built with. */
function countingRegistry(): { registry: EngineRegistry; builds: EngineDependencies[] } {
  const builds: EngineDependencies[] = [];
  const counting: MonetizationEngineFactory = {
    ...freeEngine,
    create(options, dependencies) {
      builds.push(dependencies);
      return freeEngine.create(options, dependencies);
    },
  };
  return { registry: new EngineRegistry([counting]), builds };
}

describe('the composition root', () => {
  afterEach(() => jest.restoreAllMocks());

  it('builds the tenant directory and the engine once per start, and every part shares them', async () => {
    const tenantDirectories = jest.spyOn(tenantDirectory, 'tenantDirectoryFrom');
    const { registry, builds } = countingRegistry();
    const service = await startService({ config: sqliteConfig(), logger, port: 0, registry });
    try {
      expect(tenantDirectories).toHaveBeenCalledTimes(1);
      expect(builds).toHaveLength(1);
      const { services } = service;
      expect(builds[0]!.tenants).toBe(services.tenants);
      expect(service.engine).toBe(services.engine);
      expect(service.usage).toBe(services.usage);
      expect(services.reconcileDependencies.engine).toBe(services.engine);
      expect(services.reconcileDependencies.tenants).toBe(services.tenants);
      // The service built on them answers: the REST API is served from these parts.
      expect((await fetch(`${service.url}/health`)).status).toBe(200);
    } finally {
      await service.close();
    }
    expect(tenantDirectories).toHaveBeenCalledTimes(1);
    expect(builds).toHaveLength(1);
  });

  it('builds what the CLI commands use without HTTP, each part once', async () => {
    const tenantDirectories = jest.spyOn(tenantDirectory, 'tenantDirectoryFrom');
    const { registry, builds } = countingRegistry();
    const services = await composeServices({ config: sqliteConfig(), logger, registry });
    try {
      expect(tenantDirectories).toHaveBeenCalledTimes(1);
      expect(builds).toHaveLength(1);
      await migrateLatest(services.db);
      expect(await services.reconcile({ dryRun: true })).toEqual([]); // reaches the database through the parts it was given
    } finally {
      await services.close();
    }
  });

  it('rejects when the engine refuses its options: a configuration mistake stops start-up', async () => {
    const config = parseConfig(
      { database: { apim_db: { filename: join(mkdtempSync(join(tmpdir(), 'meterline-composition-')), 'apim.db') } }, apim: { monetization: { monetization_impl: 'free', free: { nope: 1 } } } },
      {},
      'test',
    );
    await expect(composeServices({ config, logger, registry: countingRegistry().registry })).rejects.toThrow(/takes no options/);
  });
});

function sourcesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourcesUnder(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

const root = join(__dirname, '..');
const source = (path: string) => ({ path: relative(root, path), text: readFileSync(path, 'utf8') });
/** Code only: comments may name what they describe. */
const code = (text: string) => text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');

/** Calls that build a part; only src/composition.ts makes them. */
const BUILDERS = [
  'tenantDirectoryFrom(',
  'buildMonetizationEngine(',
  'new EngineRegistry(',
  'createApim(',
  'createApimRepositories(',
  'createBilling(',
  'composeUsage(',
  'new UsageService(',
  'new UsagePublisher(',
  'new UsageIngestion(',
  'connectDatabase(',
];

describe('nothing but the composition root builds services', () => {
  const files = sourcesUnder(join(root, 'src')).map(source);

  it('src/http and src/cli import no repository, no engine and no builder, and construct no service', () => {
    const problems: string[] = [];
    for (const file of files.filter((f) => f.path.startsWith('src/http/') || f.path.startsWith('src/cli/'))) {
      const text = code(file.text);
      for (const [, specifier] of text.matchAll(/from '([^']+)'/g)) {
        if (/\.repository$|\/plugins(\/|$)|monetization\/build-engine$|monetization\/tenant-directory$|apim\/apim$|billing\/billing$/.test(specifier!)) {
          if (!/^import type /m.test(text.split('\n').find((line) => line.includes(`'${specifier}'`)) ?? '')) problems.push(`${file.path} imports ${specifier}`);
        }
      }
      for (const [construction] of text.matchAll(/new \w+(Service|Repository|Store|Registry|Publisher|Ingestion)\(/g)) problems.push(`${file.path}: ${construction}`);
    }
    expect(problems).toEqual([]);
  });

  it('only src/composition.ts calls the builders (the CLI `migrate` command aside, which connects for migrations only)', () => {
    const problems: string[] = [];
    for (const file of files.filter((f) => f.path !== 'src/composition.ts')) {
      const text = code(file.text);
      for (const builder of BUILDERS) {
        if (!text.includes(builder)) continue;
        const definesIt = new RegExp(`function ${builder.replace('(', '')}\\b`).test(text);
        const migrateConnects = builder === 'connectDatabase(' && file.path === 'src/cli/main.ts';
        if (!definesIt && !migrateConnects) problems.push(`${file.path} calls ${builder}`);
      }
    }
    expect(problems).toEqual([]);
  });
});
