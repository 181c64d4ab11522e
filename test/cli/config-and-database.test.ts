import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, REPO_ROOT, runCli, startServeCli } from '../helpers/cli';

/**
 * What a newcomer sees first: which configuration file and which database each command uses,
 * which environment variables it needs, and one line (not a stack) when the database is down.
 */

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'meterline-cli-db-'));
}

/** A port nothing listens on: taken from the OS, then released. */
async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function write(path: string, text: string): string {
  writeFileSync(path, text);
  return path;
}

const firstLine = (text: string) => text.split('\n')[0];
const STACK_LINE = /^\s+at /m;

describe('help documents where the configuration comes from', () => {
  it('lists the four places in order and prints no config line', async () => {
    const result = await runCli(['help']);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/--config <file>[^\n]*must exist\n\s+\$METERLINE_CONFIG[^\n]*must exist\n\s+\.\/deployment\.toml[^\n]*\n\s+config\/deployment\.toml\n/);
  });
});

describe('the configuration file is found in one order', () => {
  it('./deployment.toml, else config/deployment.toml, else all defaults; the first line says which', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'config'));
    write(join(dir, 'deployment.toml'), `[database.apim_db]\nfilename = "here.db"\n`);
    write(join(dir, 'config', 'deployment.toml'), `[database.apim_db]\nfilename = "there.db"\n`);

    const here = await runCli(['migrate'], { cwd: dir });
    expect(here.code).toBe(0);
    expect(here.stderr).toBe('meterline: config deployment.toml; database sqlite here.db\n');

    rmSync(join(dir, 'deployment.toml'));
    const there = await runCli(['migrate'], { cwd: dir });
    expect(there.code).toBe(0);
    expect(there.stderr).toBe('meterline: config config/deployment.toml; database sqlite there.db\n');

    rmSync(join(dir, 'config'), { recursive: true });
    const none = await runCli(['migrate'], { cwd: dir });
    expect(none.code).toBe(0);
    expect(none.stderr).toBe('meterline: config (defaults: no deployment.toml, no config/deployment.toml); database sqlite data/meterline.db\n');
  });

  it('METERLINE_CONFIG comes before ./deployment.toml', async () => {
    const dir = tempDir();
    write(join(dir, 'deployment.toml'), `[database.apim_db]\nfilename = "here.db"\n`);
    const chosen = write(join(dir, 'chosen.toml'), `[database.apim_db]\nfilename = "chosen.db"\n`);
    const result = await runCli(['migrate'], { cwd: dir, env: { METERLINE_CONFIG: chosen } });
    expect(result.code).toBe(0);
    expect(firstLine(result.stderr)).toBe(`meterline: config ${chosen}; database sqlite chosen.db`);
  });

  it('a file named by --config must exist, even when a default file does', async () => {
    const dir = tempDir();
    write(join(dir, 'deployment.toml'), '');
    const result = await runCli(['migrate', '--config', 'missing.toml'], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/missing\.toml[\s\S]*file not found/);
  });
});

describe('the first line names the database, never its credentials', () => {
  it('for a url', async () => {
    const port = await unusedPort();
    const config = write(join(tempDir(), 'pg.toml'), `[database.apim_db]\ntype = "postgres"\nurl = "postgres://meterline:pa55word@127.0.0.1:${port}/apim_db"\n`);
    const result = await runCli(['migrate', '--config', config]);
    expect(firstLine(result.stderr)).toBe(`meterline: config ${config}; database postgres 127.0.0.1:${port}/apim_db`);
    expect(result.stderr).not.toMatch(/pa55word|meterline:pa|meterline@/);
  });

  it('for host, port and database given apart', async () => {
    const port = await unusedPort();
    const config = write(
      join(tempDir(), 'my.toml'),
      `[database.apim_db]\ntype = "mysql"\nhost = "127.0.0.1"\nport = ${port}\nusername = "meterline"\npassword = "pa55word"\ndatabase = "apim_db"\n`,
    );
    const result = await runCli(['migrate', '--config', config]);
    expect(firstLine(result.stderr)).toBe(`meterline: config ${config}; database mysql 127.0.0.1:${port}/apim_db`);
    expect(result.stderr).not.toContain('pa55word');
  });

  it('token names only the configuration file (it uses no database), and stdout is the token alone', async () => {
    const config = write(join(tempDir(), 'jwt.toml'), `[auth.jwt]\nsecret = "0123456789abcdef"\n`);
    const result = await runCli(['token', '--config', config, '--sub', 'sam', '--scope', 'apim:subscribe']);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe(`meterline: config ${config}\n`);
    expect(result.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
  });
});

describe('each command needs only the environment variables of what it reads', () => {
  const example = join(REPO_ROOT, 'config/deployment.example.toml');

  it('migrate needs METERLINE_DATABASE_URL only: without the JWT and Stripe secrets it tries the database', async () => {
    const port = await unusedPort();
    const result = await runCli(['migrate', '--config', example], { env: { METERLINE_DATABASE_URL: `postgres://meterline:pw@127.0.0.1:${port}/apim_db` } });
    expect(result.stderr).not.toContain('is not set');
    expect(result.stderr).toContain(`database postgres 127.0.0.1:${port}/apim_db is not reachable`);
    expect(result.code).toBe(1);
  });

  it('migrate (and --down) succeed on a file whose other sections reference unset variables', async () => {
    const dir = tempDir();
    const config = write(
      join(dir, 'deployment.toml'),
      `[database.apim_db]\nfilename = "\${env:DB_FILE}"\n[auth.jwt]\nsecret = "\${env:METERLINE_JWT_SECRET}"\n` +
        `[[tenants]]\ndomain = "carbon.super"\nid = -1234\n[tenants.monetization_info]\nbilling_engine_platform_account_key = "\${env:STRIPE_PLATFORM_KEY}"\n`,
    );
    const env = { DB_FILE: join(dir, 'apim.db') };
    const up = await runCli(['migrate', '--config', config], { env });
    expect(up.stderr).toBe(`meterline: config ${config}; database sqlite ${join(dir, 'apim.db')}\n`);
    expect(up.code).toBe(0);
    const down = await runCli(['migrate', '--down', '--config', config], { env });
    expect(down.code).toBe(0);
    expect(down.stdout).toMatch(/^rolled back /m);

    const serve = await runCli(['serve', '--config', config, '--port', '0'], { env });
    expect(serve.code).toBe(2);
    expect(serve.stderr).toContain('auth.jwt.secret: environment variable METERLINE_JWT_SECRET is not set (referenced as ${env:METERLINE_JWT_SECRET})');
    expect(serve.stderr).toContain('tenants[0].monetization_info.billing_engine_platform_account_key: environment variable STRIPE_PLATFORM_KEY is not set');
  });

  it('token needs the JWT secret but not the database URL or the Stripe secrets', async () => {
    const ok = await runCli(['token', '--config', example, '--sub', 'sam', '--scope', 'apim:subscribe'], { env: { METERLINE_JWT_SECRET: 'jwt-secret-0123456789' } });
    expect(ok.code).toBe(0);
    expect(ok.stdout.trim()).not.toBe('');
    const missing = await runCli(['token', '--config', example, '--sub', 'sam', '--scope', 'apim:subscribe']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('auth.jwt.secret: environment variable METERLINE_JWT_SECRET is not set (referenced as ${env:METERLINE_JWT_SECRET})');
    expect(missing.stderr).not.toContain('METERLINE_DATABASE_URL');
  });
});

describe('database mistakes and outages', () => {
  it('a url that is not a URL is a configuration error naming the key', async () => {
    const config = write(join(tempDir(), 'bad-url.toml'), `[database.apim_db]\ntype = "postgres"\nurl = "not-a-url"\n`);
    const result = await runCli(['migrate', '--config', config]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('database.apim_db.url: must be a URL such as postgres://user:password@host:5432/apim_db (accepted for type "postgres": postgres://, postgresql://, or a JDBC URL such as jdbc:postgresql://host:5432/apim_db)');
  });

  it('a url of another database type is a configuration error naming the key', async () => {
    const config = write(join(tempDir(), 'wrong-scheme.toml'), `[database.apim_db]\ntype = "postgres"\nurl = "mysql://u:pw@127.0.0.1:3306/apim_db"\n`);
    const result = await runCli(['migrate', '--config', config]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('database.apim_db.url: scheme "mysql://" does not match type = "postgres"');
  });

  it.each(['migrate', 'publish-usage', 'reconcile'])('%s: a refused connection is one line after the config line, exit 1', async (command) => {
    const port = await unusedPort();
    const config = write(join(tempDir(), 'down.toml'), `[database.apim_db]\ntype = "postgres"\nurl = "postgres://meterline:pw@127.0.0.1:${port}/apim_db"\n`);
    const result = await runCli([command, '--config', config]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `meterline: config ${config}; database postgres 127.0.0.1:${port}/apim_db\n` +
        `meterline: database postgres 127.0.0.1:${port}/apim_db is not reachable: connect ECONNREFUSED 127.0.0.1:${port}\n`,
    );
    expect(result.stdout).toBe('');
  });

  it('serve keeps running without its database: listening, /health DOWN, the API 503, one log line per attempt', async () => {
    const port = await unusedPort();
    const config = write(join(tempDir(), 'down.toml'), `[database.apim_db]\ntype = "postgres"\nurl = "postgres://meterline:pw@127.0.0.1:${port}/apim_db"\n`);
    const serving = await startServeCli(['--config', config, '--port', '0'], { until: 'listening' });
    try {
      const health = await fetch(`${serving.url}/health`);
      expect(health.status).toBe(503);
      expect(await health.json()).toEqual({ status: 'DOWN', database: 'DOWN' });

      const api = await fetch(`${serving.url}/api/am/devportal/v3/subscriptions`);
      expect(api.status).toBe(503);
      expect(api.headers.get('retry-after')).toBe('5');
      expect(await api.json()).toMatchObject({ code: 503, message: 'Service Unavailable', description: expect.stringContaining('database is not reachable') });

      const attempts = () => serving.output().split('\n').filter((line) => line.includes('"database is not reachable; retrying"'));
      await eventually('two failed attempts logged', () => attempts().length >= 2);
      expect(JSON.parse(attempts()[0]!)).toMatchObject({ attempt: 1, nextDelayMs: 1000, error: `connect ECONNREFUSED 127.0.0.1:${port}`, database: `postgres 127.0.0.1:${port}/apim_db` });
      expect(JSON.parse(attempts()[1]!)).toMatchObject({ attempt: 2, nextDelayMs: 2000 });
      expect(serving.output()).not.toMatch(STACK_LINE);
      expect(serving.output()).not.toContain('\\n    at '); // nor one inside a JSON log line
      expect(serving.child.exitCode).toBeNull();
    } finally {
      // SIGTERM in the middle of the retry loop ends it cleanly. That it ends the pending delay
      // at once (rather than after it) is proved with an injected sleep in serve-waits-for-database.
      expect(await serving.stop()).toBe(0);
    }
  });
});

describe("a WSO2 API-M 4.x deployment.toml (test/config/fixtures), unchanged but for its database's port", () => {
  const wso2 = readFileSync(join(REPO_ROOT, 'test/config/fixtures/wso2-apim-4.x-deployment.toml'), 'utf8');

  it('migrate reads it, names the WSO2 settings it ignores in one line, and connects to the JDBC URL\'s port', async () => {
    const port = await unusedPort();
    const config = write(join(tempDir(), 'deployment.toml'), wso2.replace('jdbc:postgresql://127.0.0.1:58432/apim_db', `jdbc:postgresql://127.0.0.1:${port}/apim_db`));
    const result = await runCli(['migrate', '--config', config], { env: { APIM_DB_PASSWORD: 'pw' } });
    const lines = result.stderr.split('\n');
    expect(lines[0]).toBe(`meterline: config ${config}; database postgres 127.0.0.1:${port}/apim_db`);
    expect(lines[1]).toMatch(/^meterline: ignoring WSO2 API-M settings Meterline does not use \(see docs\/migration-from-wso2\.md\): server\.hostname, .*super_admin, user_store, .*database\.shared_db, .*apim\.analytics, .*apim\.monetization\.analytics_host, .*transport$/);
    expect(lines[2]).toBe(`meterline: database postgres 127.0.0.1:${port}/apim_db is not reachable: connect ECONNREFUSED 127.0.0.1:${port}`);
    expect(lines).toHaveLength(4); // and the final newline
    expect(result.code).toBe(1);
  });

  it('another WSO2 plugin class exits 2 naming the key and the engines there are', async () => {
    const config = write(join(tempDir(), 'deployment.toml'), wso2.replace('org.wso2.apim.monetization.impl.StripeMonetizationImpl', 'com.myfatoorah.apim.MyFatoorahMonetizationImpl'));
    const result = await runCli(['migrate', '--config', config], { env: { APIM_DB_PASSWORD: 'pw' } });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('monetization_impl "com.myfatoorah.apim.MyFatoorahMonetizationImpl" is the Java class of a WSO2 monetization plugin that no Meterline billing engine replaces (registered: free, http-integration, myfatoorah, stripe (also org.wso2.apim.monetization.impl.StripeMonetizationImpl))');
  });
});
