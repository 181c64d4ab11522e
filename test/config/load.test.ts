import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../src/config/errors';
import { configPathFrom, loadConfig } from '../../src/config/load';

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

/** Loads a TOML text and returns the ConfigError's problems (fails the test if it loads). */
function problemsOf(toml: string, env: NodeJS.ProcessEnv = {}): readonly string[] {
  try {
    loadConfig(writeConfig(toml), env, { mustExist: true });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected the configuration to be rejected');
}

describe('choosing the configuration file', () => {
  it('prefers --config, then METERLINE_CONFIG, then config/deployment.toml', () => {
    expect(configPathFrom('a.toml', { METERLINE_CONFIG: 'b.toml' })).toBe('a.toml');
    expect(configPathFrom(undefined, { METERLINE_CONFIG: 'b.toml' })).toBe('b.toml');
    expect(configPathFrom(undefined, {})).toBe('config/deployment.toml');
  });
});

describe('defaults', () => {
  it('a missing default file means embedded SQLite, port 9763 and the super tenant without keys', () => {
    const { config, path } = loadConfig('/nonexistent/deployment.toml', {}, { mustExist: false });
    expect(path).toBeUndefined();
    expect(config.server).toEqual({ host: '127.0.0.1', port: 9763 });
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
