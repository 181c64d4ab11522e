import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../src/config/errors';
import { describeConfigFile, findConfigFile, loadConfig, parseConfig, type ConfigNeeds } from '../../src/config/load';

const repoRoot = join(__dirname, '..', '..');
const exampleEnv = {
  METERLINE_DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/apim',
  METERLINE_JWT_SECRET: 'jwt-secret',
  STRIPE_PLATFORM_KEY: 'sk_test_platform',
  STRIPE_WEBHOOK_SECRET: 'whsec_test',
};

function writeConfig(toml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'meterline-config-'));
  const path = join(dir, 'deployment.toml');
  writeFileSync(path, toml);
  return path;
}

/** Loads a TOML text (or a file) and returns the ConfigError's problems (fails the test if it loads). */
function problemsOf(toml: string, env: NodeJS.ProcessEnv = {}, needs: ConfigNeeds = 'all', path = writeConfig(toml)): readonly string[] {
  try {
    loadConfig(path, env, { mustExist: true, needs });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected the configuration to be rejected');
}

const examplePath = join(repoRoot, 'config/deployment.example.toml');

describe('choosing the configuration file', () => {
  const existing = (...paths: string[]) => (path: string) => paths.includes(path);

  it('--config comes first, whether or not it exists', () => {
    expect(findConfigFile('a.toml', { METERLINE_CONFIG: 'b.toml' }, existing('deployment.toml'))).toEqual({ path: 'a.toml', chosenBy: '--config' });
  });

  it('then METERLINE_CONFIG', () => {
    expect(findConfigFile(undefined, { METERLINE_CONFIG: 'b.toml' }, existing('deployment.toml'))).toEqual({ path: 'b.toml', chosenBy: 'METERLINE_CONFIG' });
  });

  it('then ./deployment.toml, before config/deployment.toml', () => {
    expect(findConfigFile(undefined, {}, existing('deployment.toml', 'config/deployment.toml'))).toEqual({ path: 'deployment.toml', chosenBy: 'default' });
  });

  it('then config/deployment.toml', () => {
    expect(findConfigFile(undefined, {}, existing('config/deployment.toml'))).toEqual({ path: 'config/deployment.toml', chosenBy: 'default' });
  });

  it('else no file: all defaults, and the message says which files were looked for', () => {
    const none = findConfigFile(undefined, {}, existing());
    expect(none).toEqual({ path: undefined, chosenBy: 'default' });
    expect(describeConfigFile(none)).toBe('(defaults: no deployment.toml, no config/deployment.toml)');
    expect(describeConfigFile({ path: 'deployment.toml', chosenBy: 'default' })).toBe('deployment.toml');
  });
});

describe('defaults', () => {
  it('a missing default file means embedded SQLite, port 9763 and the super tenant without keys', () => {
    const { config, path } = loadConfig('/nonexistent/deployment.toml', {}, { mustExist: false });
    expect(path).toBeUndefined();
    expect(config.server).toEqual({ host: '127.0.0.1', port: 9763, trust_proxy: false });
    expect(config.database.apim_db.type).toBe('sqlite');
    expect(config.database.apim_db.filename).toBe('data/meterline.db');
    expect(config.tenants).toEqual([{ domain: 'carbon.super', id: -1234, monetization_info: { hold_until_paid: false, payment_grace_period_days: 3 } }]);
    expect(config.apim.monetization.usage_publish_cron).toBe('');
  });

  it('a missing file that was asked for explicitly is an error naming it', () => {
    expect(() => loadConfig('/nonexistent/x.toml', {}, { mustExist: true })).toThrow(/\/nonexistent\/x\.toml[\s\S]*file not found/);
  });

  it('the shipped config/deployment.toml starts with no environment variable set', () => {
    const { config } = loadConfig(join(repoRoot, 'config/deployment.toml'), {}, { mustExist: true });
    expect(config.database.apim_db.type).toBe('sqlite');
    expect(config.apim.monetization.additional_attributes.map((a) => a.name)).toEqual(['ConnectedAccountKey']);
  });
});

describe('the example configuration', () => {
  it('loads with its referenced variables set and substitutes them', () => {
    const { config } = loadConfig(join(repoRoot, 'config/deployment.example.toml'), exampleEnv, { mustExist: true });
    expect(config.database.apim_db.url).toBe(exampleEnv.METERLINE_DATABASE_URL);
    expect(config.auth.jwt?.secret).toBe('jwt-secret');
    const superTenant = config.tenants.find((t) => t.domain === 'carbon.super');
    expect(superTenant?.monetization_info.billing_engine_platform_account_key).toBe('sk_test_platform');
  });

  it('names each missing environment variable and the key that references it', () => {
    const { STRIPE_PLATFORM_KEY: _omitted, ...env } = exampleEnv;
    expect(() => loadConfig(join(repoRoot, 'config/deployment.example.toml'), env, { mustExist: true })).toThrow(
      /tenants\[0\]\.monetization_info\.billing_engine_platform_account_key: environment variable STRIPE_PLATFORM_KEY is not set/,
    );
  });
});

describe('a command needs only the environment variables of the keys it reads', () => {
  const databaseOnly = { METERLINE_DATABASE_URL: exampleEnv.METERLINE_DATABASE_URL };

  it('everything (serve, publish-usage): every unset variable, each with its key, as before', () => {
    expect(problemsOf('', {}, 'all', examplePath)).toEqual([
      'database.apim_db.url: environment variable METERLINE_DATABASE_URL is not set (referenced as ${env:METERLINE_DATABASE_URL})',
      'auth.jwt.secret: environment variable METERLINE_JWT_SECRET is not set (referenced as ${env:METERLINE_JWT_SECRET})',
      'tenants[0].monetization_info.billing_engine_platform_account_key: environment variable STRIPE_PLATFORM_KEY is not set (referenced as ${env:STRIPE_PLATFORM_KEY})',
      'tenants[0].monetization_info.stripe_webhook_secret: environment variable STRIPE_WEBHOOK_SECRET is not set (referenced as ${env:STRIPE_WEBHOOK_SECRET})',
    ]);
  });

  it('database (migrate): only [database.*], and only those sections come back (with the engine, whose migrations it runs)', () => {
    const { config } = loadConfig(examplePath, databaseOnly, { mustExist: true, needs: 'database' });
    expect(config.database.apim_db.url).toBe(exampleEnv.METERLINE_DATABASE_URL);
    expect(config.logging.level).toBe('info');
    expect(Object.keys(config).sort()).toEqual(['apim', 'database', 'logging']);
    expect(config.apim).toEqual({ monetization: { monetization_impl: 'stripe' } }); // the example names its engine
  });

  it('database (migrate): reads monetization_impl, and nothing else of [apim.monetization]', () => {
    const document = { apim: { monetization: { monetization_impl: './engines/my-engine.js', usage_publish_cron: '0 * * * *' } } };
    expect(parseConfig(document, {}, 'test', 'database').apim).toEqual({ monetization: { monetization_impl: './engines/my-engine.js' } });
    expect(() => parseConfig({ apim: { monetization: { monetization_impl: '' } } }, {}, 'test', 'database')).toThrow(/apim\.monetization\.monetization_impl: must not be empty/);
  });

  it('database (migrate): its own variable is still required', () => {
    expect(problemsOf('', {}, 'database', examplePath)).toEqual([
      'database.apim_db.url: environment variable METERLINE_DATABASE_URL is not set (referenced as ${env:METERLINE_DATABASE_URL})',
    ]);
  });

  it('token: [auth.jwt] and the tenants domains and ids, without their secrets or the database', () => {
    const { config } = loadConfig(examplePath, { METERLINE_JWT_SECRET: 'jwt-secret' }, { mustExist: true, needs: 'token' });
    expect(config.auth.jwt?.secret).toBe('jwt-secret');
    expect(config.tenants).toEqual([{ domain: 'carbon.super', id: -1234 }]);
    expect(Object.keys(config).sort()).toEqual(['auth', 'logging', 'tenants']);
  });

  it('token: adds the super tenant when the file lists only others', () => {
    const path = writeConfig('[auth.jwt]\nsecret = "s"\n[[tenants]]\ndomain = "acme.com"\nid = 7\n[tenants.monetization_info]\nstripe_webhook_secret = "${env:ACME_WHSEC}"\n');
    const { config } = loadConfig(path, {}, { mustExist: true, needs: 'token' });
    expect(config.tenants).toEqual([{ domain: 'carbon.super', id: -1234 }, { domain: 'acme.com', id: 7 }]);
  });

  it('token: the signing secret is still required', () => {
    expect(problemsOf('', databaseOnly, 'token', examplePath)).toEqual([
      'auth.jwt.secret: environment variable METERLINE_JWT_SECRET is not set (referenced as ${env:METERLINE_JWT_SECRET})',
    ]);
  });

  it('a misspelt key is reported whatever the command reads', () => {
    expect(problemsOf('[auth.jwt]\nsecret = "${env:JWT}"\nsecrett = "x"\n', {}, 'database')).toEqual(['auth.jwt.secrett: unknown key']);
  });

  it('a reference inside a longer string is unset as a whole, never half-substituted', () => {
    expect(problemsOf('[database.apim_db]\ntype = "postgres"\nurl = "postgres://app:${env:DB_PW}@db:5432/apim"\n', {}, 'database')).toEqual([
      'database.apim_db.url: environment variable DB_PW is not set (referenced as ${env:DB_PW})',
    ]);
  });
});

describe('database.apim_db.url is checked against type', () => {
  const urlProblems = (type: string, url: string) => problemsOf(`[database.apim_db]\ntype = "${type}"\nurl = "${url}"\n`);

  it('a string that is not a URL names the key and the accepted schemes', () => {
    expect(urlProblems('postgres', 'not-a-url')).toEqual([
      'database.apim_db.url: must be a URL such as postgres://user:password@host:5432/apim_db (accepted for type "postgres": postgres://, postgresql://, or a JDBC URL such as jdbc:postgresql://host:5432/apim_db)',
    ]);
  });

  it('a scheme of another database', () => {
    expect(urlProblems('postgres', 'mysql://u:pw@db:3306/apim')).toEqual([
      'database.apim_db.url: scheme "mysql://" does not match type = "postgres" (accepted for type "postgres": postgres://, postgresql://, or a JDBC URL such as jdbc:postgresql://host:5432/apim_db)',
    ]);
  });

  it('a URL without a host', () => {
    expect(urlProblems('mysql', 'mysql:///apim')).toEqual(['database.apim_db.url: must name a host, as in mysql://user:password@host:3306/apim_db']);
  });

  it('never repeats the URL, which may hold a password', () => {
    expect(urlProblems('mssql', 'postgres://u:hunter2@db/apim').join('\n')).not.toContain('hunter2');
  });

  it.each([
    ['postgres', 'postgres://u:p@db:5432/apim'],
    ['postgres', 'postgresql://db/apim'],
    ['mysql', 'mysql://u:p@db:3306/apim'],
    ['mysql', 'mariadb://u:p@db/apim'],
    ['mssql', 'mssql://u:p@db:1433/apim'],
    ['oracle', 'oracle://u:p@db:1521/XEPDB1'],
  ])('type = "%s" accepts %s', (type, url) => {
    const { config } = loadConfig(writeConfig(`[database.apim_db]\ntype = "${type}"\nurl = "${url}"\n`), {}, { mustExist: true });
    expect(config.database.apim_db.url).toBe(url);
  });
});

describe('environment references', () => {
  it('are replaced inside a longer string', () => {
    const path = writeConfig('[database.apim_db]\ntype = "postgres"\nurl = "postgres://app:${env:DB_PW}@db:5432/apim"\n');
    const { config } = loadConfig(path, { DB_PW: 's3cret' }, { mustExist: true });
    expect(config.database.apim_db.url).toBe('postgres://app:s3cret@db:5432/apim');
  });
});

describe('validation errors name the key and what was expected', () => {
  it('a wrong type', () => {
    expect(problemsOf('[server]\nport = "ninety"\n')).toEqual([expect.stringMatching(/^server\.port: .*number/)]);
  });

  it('an out-of-range value', () => {
    expect(problemsOf('[server]\nport = 70000\n')).toEqual([expect.stringMatching(/^server\.port: /)]);
  });

  it('an unknown key', () => {
    expect(problemsOf('[server]\nhots = "x"\n')).toEqual(['server.hots: unknown key']);
  });

  it('an unknown top-level section', () => {
    expect(problemsOf('[serverz]\nport = 1\n')).toEqual(['serverz: unknown key']);
  });

  it('an unknown database type lists the accepted ones', () => {
    expect(problemsOf('[database.apim_db]\ntype = "db2"\n')).toEqual([
      expect.stringMatching(/^database\.apim_db\.type: .*sqlite.*postgres.*mysql.*mssql.*oracle/),
    ]);
  });

  it('a server database without a url', () => {
    expect(problemsOf('[database.apim_db]\ntype = "mysql"\n')).toEqual([
      expect.stringMatching(/^database\.apim_db\.url: required for type "mysql"/),
    ]);
  });

  it('HS256 without a secret', () => {
    expect(problemsOf('[auth.jwt]\nalgorithm = "HS256"\n')).toEqual(['auth.jwt.secret: required when algorithm = "HS256"']);
  });

  it('an additional attribute without its name', () => {
    expect(problemsOf('[[apim.monetization.additional_attributes]]\ndisplay_name = "X"\n')).toEqual([
      expect.stringMatching(/^apim\.monetization\.additional_attributes\[0\]\.name: /),
    ]);
  });

  it('a scalar where an engine options table belongs', () => {
    expect(problemsOf('[apim.monetization]\nmonetizaton_impl = "stripe"\n')).toEqual(['apim.monetization.monetizaton_impl: unknown key']);
  });

  it('a malformed cron expression', () => {
    expect(problemsOf('[apim.monetization]\nusage_publish_cron = "every five minutes"\n')).toEqual([
      expect.stringMatching(/^apim\.monetization\.usage_publish_cron: must be a cron expression/),
    ]);
  });

  it('two tenants with the same domain', () => {
    expect(problemsOf('[[tenants]]\ndomain = "a.com"\nid = 1\n[[tenants]]\ndomain = "a.com"\nid = 2\n')).toEqual([
      'tenants[1].domain: duplicate tenant domain "a.com"',
    ]);
  });

  it('reports every problem at once', () => {
    expect(problemsOf('[server]\nport = "x"\nhots = 1\n')).toHaveLength(2);
  });

  it('invalid TOML gives the line and column', () => {
    expect(problemsOf('[server]\nport = = 1\n')).toEqual([expect.stringMatching(/^not valid TOML at line 2, column \d+/)]);
  });
});

describe('engine options', () => {
  it('an [apim.monetization.<engine>] table is kept for the engine to validate', () => {
    const path = writeConfig('[apim.monetization.stripe]\napi_host = "127.0.0.1"\napi_port = 12111\n');
    const { config } = loadConfig(path, {}, { mustExist: true });
    expect(config.apim.monetization.stripe).toEqual({ api_host: '127.0.0.1', api_port: 12111 });
  });
});

describe('usage publisher options: [apim.monetization.usage_publisher]', () => {
  it('has a default for every key when the table is absent', () => {
    const { config } = loadConfig(writeConfig('[apim.monetization]\nusage_publish_cron = "0 * * * *"\n'), {}, { mustExist: true });
    expect(config.apim.monetization.usage_publisher).toEqual({
      source: 'local',
      requests_per_second: 20,
      concurrency: 8,
      window_hours: 1,
      lease_seconds: 60,
      retries: 3,
      retry_delay_ms: 1000,
      mode: 'scheduled',
      interval_seconds: 10,
      send_in_batches: false,
      lookup_cache_ms: 5000,
    });
    expect(config.apim.monetization.usage_publish_cron).toBe('0 * * * *');
    expect(config.apim.monetization.publish_duration_days).toBe(1);
  });

  it('keeps the values given and fills in the rest', () => {
    const path = writeConfig('[apim.monetization.usage_publisher]\nsource = "local"\nrequests_per_second = 90\nconcurrency = 16\nwindow_hours = 6\n');
    const { config } = loadConfig(path, {}, { mustExist: true });
    expect(config.apim.monetization.usage_publisher).toMatchObject({ source: 'local', requests_per_second: 90, concurrency: 16, window_hours: 6, lease_seconds: 60 });
  });

  it('continuous mode with its interval; an unknown mode or a zero interval names the key', () => {
    const { config } = loadConfig(writeConfig('[apim.monetization.usage_publisher]\nmode = "continuous"\ninterval_seconds = 5\n'), {}, { mustExist: true });
    expect(config.apim.monetization.usage_publisher).toMatchObject({ mode: 'continuous', interval_seconds: 5 });
    expect(problemsOf('[apim.monetization.usage_publisher]\nmode = "streaming"\ninterval_seconds = 0\n')).toEqual([
      expect.stringMatching(/^apim\.monetization\.usage_publisher\.mode: /),
      expect.stringMatching(/^apim\.monetization\.usage_publisher\.interval_seconds: /),
    ]);
  });

  it('an unknown key names itself', () => {
    expect(problemsOf('[apim.monetization.usage_publisher]\nrequest_per_second = 10\n')).toEqual(['apim.monetization.usage_publisher.request_per_second: unknown key']);
  });

  it('a window length that does not divide a day', () => {
    expect(problemsOf('[apim.monetization.usage_publisher]\nwindow_hours = 5\n')).toEqual([expect.stringMatching(/^apim\.monetization\.usage_publisher\.window_hours: /)]);
  });

  it('a pace that is not positive, and a fractional concurrency, reported together', () => {
    expect(problemsOf('[apim.monetization.usage_publisher]\nrequests_per_second = 0\nconcurrency = 1.5\n')).toEqual([
      expect.stringMatching(/^apim\.monetization\.usage_publisher\.requests_per_second: /),
      expect.stringMatching(/^apim\.monetization\.usage_publisher\.concurrency: /),
    ]);
  });

  it('a source that is not a name', () => {
    expect(problemsOf('[apim.monetization.usage_publisher]\nsource = "Choreo Analytics"\n')).toEqual([
      expect.stringMatching(/^apim\.monetization\.usage_publisher\.source: must be a source name/),
    ]);
  });

  it('a scalar usage_publisher is not taken for a table', () => {
    expect(problemsOf('[apim.monetization]\nusage_publisher = 3\n')).toEqual([expect.stringMatching(/^apim\.monetization\.usage_publisher: /)]);
  });
});

describe('tenants', () => {
  it('the super tenant is added when the file lists only others', () => {
    const path = writeConfig('[[tenants]]\ndomain = "wso2.com"\nid = 1\n');
    const { config } = loadConfig(path, {}, { mustExist: true });
    expect(config.tenants.map((t) => t.domain)).toEqual(['carbon.super', 'wso2.com']);
  });
});

describe('[server] trust_proxy', () => {
  const serverOf = (toml: string) => loadConfig(writeConfig(toml), {}, { mustExist: true }).config.server;

  it('is false by default: X-Forwarded-* headers are not believed', () => {
    expect(serverOf('').trust_proxy).toBe(false);
  });

  it.each([
    ['true', true],
    ['2', 2],
    ['["10.0.0.0/8", "192.168.1.7", "fd00::/8", "::1", "loopback"]', ['10.0.0.0/8', '192.168.1.7', 'fd00::/8', '::1', 'loopback']],
  ])('accepts %s', (value, expected) => {
    expect(serverOf(`[server]\ntrust_proxy = ${value}\n`).trust_proxy).toEqual(expected);
  });

  it.each([
    ['"yes"', /^server\.trust_proxy: /],
    ['0', /^server\.trust_proxy: /],
    ['[]', /^server\.trust_proxy: .*at least one address/],
    ['["10.0.0.0/33"]', /^server\.trust_proxy\[0\]: must be an IP address, a subnet/],
    ['["proxy.example.com"]', /^server\.trust_proxy\[0\]: must be an IP address, a subnet/],
  ])('refuses %s, naming the key', (value, problem) => {
    expect(problemsOf(`[server]\ntrust_proxy = ${value}\n`)).toEqual([expect.stringMatching(problem)]);
  });
});
