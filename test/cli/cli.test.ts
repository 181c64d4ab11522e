import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import knex from 'knex';
import { REPO_ROOT, runCli, startServeCli } from '../helpers/cli';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'meterline-cli-'));
}

function sqliteConfig(dir: string): string {
  const path = join(dir, 'deployment.toml');
  writeFileSync(path, `[database.apim_db]\ntype = "sqlite"\nfilename = "${join(dir, 'apim.db')}"\n`);
  return path;
}

async function tableNames(filename: string): Promise<string[]> {
  const db = knex({ client: 'better-sqlite3', connection: { filename }, useNullAsDefault: true });
  try {
    const rows: Array<{ name: string }> = await db('sqlite_master').where({ type: 'table' }).select('name');
    return rows.map((r) => r.name).filter((n) => !n.startsWith('sqlite_'));
  } finally {
    await db.destroy();
  }
}

describe('meterline help and usage errors', () => {
  it('help prints the commands and exits 0', async () => {
    const result = await runCli(['help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/serve[\s\S]*migrate[\s\S]*migrate --down[\s\S]*--config/);
  });

  it('an unknown command exits 2 and names it', async () => {
    const result = await runCli(['frobnicate']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('unknown command "frobnicate"');
  });

  it('an unknown option exits 2 with the usage', async () => {
    const result = await runCli(['serve', '--colour']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--colour[\s\S]*Usage: meterline/);
  });
});

describe('configuration mistakes stop start-up with a message, not a stack trace', () => {
  it('names the wrong key and what was expected', async () => {
    const dir = tempDir();
    const config = join(dir, 'bad.toml');
    writeFileSync(config, '[server]\nport = "http"\n');
    const result = await runCli(['serve', '--config', config]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/server\.port: .*number/);
    expect(result.stderr).not.toMatch(/^\s+at /m);
  });

  it('names a referenced environment variable that is not set', async () => {
    const result = await runCli(['migrate', '--config', join(REPO_ROOT, 'config/deployment.example.toml')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('environment variable METERLINE_DATABASE_URL is not set');
  });

  it('names an unknown billing-engine option', async () => {
    const dir = tempDir();
    const config = join(dir, 'engine.toml');
    writeFileSync(config, `[database.apim_db]\nfilename = "${join(dir, 'a.db')}"\n[apim.monetization.stripe]\napi_hots = "127.0.0.1"\n`);
    const result = await runCli(['serve', '--config', config, '--port', '0']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('apim.monetization.stripe.api_hots: unknown key');
  });

  it('names an unknown billing engine', async () => {
    const dir = tempDir();
    const config = join(dir, 'engine.toml');
    writeFileSync(config, `[database.apim_db]\nfilename = "${join(dir, 'a.db')}"\n[apim.monetization]\nmonetization_impl = "paypal"\n`);
    const result = await runCli(['serve', '--config', config, '--port', '0']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('monetization_impl "paypal" is not a registered billing engine (registered: free, http-integration, myfatoorah, stripe)');
  });

  it('reads METERLINE_CONFIG when --config is not given', async () => {
    const result = await runCli(['migrate'], { env: { METERLINE_CONFIG: '/nonexistent/meterline.toml' } });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('/nonexistent/meterline.toml');
  });
});

describe('meterline migrate', () => {
  it('creates the tables, and --down removes every one of them', async () => {
    const dir = tempDir();
    const config = sqliteConfig(dir);

    const up = await runCli(['migrate', '--config', config]);
    expect(up.stderr).toBe(`meterline: config ${config}; database sqlite ${join(dir, 'apim.db')}\n`);
    expect(up.code).toBe(0);
    expect(up.stdout).toMatch(/^applied /m);
    expect(await tableNames(join(dir, 'apim.db'))).toEqual(expect.arrayContaining(['AM_API', 'AM_MONETIZATION_SUBSCRIPTIONS']));

    const again = await runCli(['migrate', '--config', config]);
    expect(again.stdout).toBe('database is up to date\n');

    const down = await runCli(['migrate', '--down', '--config', config]);
    expect(down.code).toBe(0);
    expect(down.stdout).toMatch(/^rolled back /m);
    // Only knex's own bookkeeping of applied migrations stays.
    expect((await tableNames(join(dir, 'apim.db'))).sort()).toEqual(['ML_MIGRATIONS', 'ML_MIGRATIONS_lock']);
  });
});

describe('commands that need the schema, on a database not yet migrated', () => {
  it.each([['publish-usage'], ['reconcile', '--dry-run']])('%s says to run migrate first, in one line without SQL, and exits 1', async (...args) => {
    const empty = mkdtempSync(join(tmpdir(), 'meterline-unmigrated-'));
    const result = await runCli(args, { cwd: empty });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('run "meterline migrate" first');
    expect(result.stderr).not.toMatch(/select|insert|no such table/i);
    expect(result.stderr.trim().split('\n')).toHaveLength(2); // the config line, then the reason
  });
});

describe('meterline serve', () => {
  it('starts on the shipped default config and answers GET /health with the database up', async () => {
    const dir = tempDir(); // the default SQLite file lands in <cwd>/data/
    const serving = await startServeCli(['--config', join(REPO_ROOT, 'config/deployment.toml'), '--port', '0'], { cwd: dir });
    try {
      const response = await fetch(`${serving.url}/health`);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ status: 'UP', database: 'UP' });
    } finally {
      expect(await serving.stop()).toBe(0);
    }
    expect(await tableNames(join(dir, 'data', 'meterline.db'))).toContain('AM_API');
  });
});
