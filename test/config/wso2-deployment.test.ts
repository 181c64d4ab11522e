import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtInEngines } from '../../plugins';
import { ConfigError } from '../../src/config/errors';
import { loadConfig } from '../../src/config/load';
import { describeIgnored } from '../../src/config/wso2-settings';
import { connectDatabase } from '../../src/db/connect';
import { knexConfigFor } from '../../src/db/knex-config';
import { EngineRegistry } from '../../src/monetization/registry';
import { testDatabases } from '../helpers/databases';

/** Issue 15 point 5: a WSO2 API-M 4.x deployment.toml is a Meterline configuration. */

const fixture = join(__dirname, 'fixtures', 'wso2-apim-4.x-deployment.toml');
const env = { APIM_DB_PASSWORD: 'apim-secret' };

function writeConfig(toml: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'meterline-wso2-')), 'deployment.toml');
  writeFileSync(path, toml);
  return path;
}

const load = (toml: string, environment: NodeJS.ProcessEnv = {}) => loadConfig(writeConfig(toml), environment, { mustExist: true });

function problemsOf(toml: string): readonly string[] {
  try {
    load(toml);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected the configuration to be rejected');
}

describe("WSO2 API-M 4.x's full deployment.toml", () => {
  const { config, ignored } = loadConfig(fixture, env, { mustExist: true });

  it('reads the API-M database from the JDBC URL, with WSO2\'s "postgre", username and $env{} password', () => {
    expect(config.database.apim_db).toMatchObject({ type: 'postgres', host: '127.0.0.1', port: 58432, database: 'apim_db', username: 'wso2apim', password: 'apim-secret' });
    expect(config.database.apim_db.url).toBeUndefined();
  });

  it('reaches port 58432, not the default 5432: the knex connection names it', () => {
    expect(knexConfigFor(config.database.apim_db).connection).toEqual({ host: '127.0.0.1', port: 58432, user: 'wso2apim', password: 'apim-secret', database: 'apim_db' });
  });

  it("selects the stripe engine by WSO2's class name, and reads required = \"true\"", () => {
    expect(new EngineRegistry(builtInEngines).resolve(config.apim.monetization.monetization_impl).name).toBe('stripe');
    expect(config.apim.monetization.additional_attributes).toEqual([
      { name: 'ConnectedAccountKey', display_name: 'Connected Account Key', required: true, description: 'Connected account of the publisher', hidden: false },
    ]);
  });

  it("lists every WSO2 setting it ignores, in the file's order, in one line", () => {
    expect(ignored).toEqual([
      'server.hostname',
      'server.node_ip',
      'server.mode',
      'server.base_path',
      'server.server_role',
      'server.offset',
      'super_admin',
      'user_store',
      'database.apim_db.driver',
      'database.apim_db.validationQuery',
      'database.apim_db.pool_options',
      'database.shared_db',
      'database.local',
      'keystore',
      'truststore',
      'apim.gateway',
      'apim.analytics',
      'apim.ai',
      'apim.key_manager',
      'apim.oauth_config',
      'apim.devportal',
      'apim.cors',
      'apim.throttling',
      'apim.sync_runtime_artifacts',
      'apim.monetization.analytics_host',
      'apim.monetization.analytics_port',
      'apim.monetization.analytics_username',
      'apim.monetization.analytics_password',
      'apim.monetization.analytics_query_api_endpoint',
      'apim.monetization.analytics_access_token',
      'apim.monetization.choreo_token_endpoint',
      'apim.monetization.choreo_insight_app_consumer_key',
      'apim.monetization.choreo_insight_app_consumer_secret',
      'event_handler',
      'service_provider',
      'event_listener',
      'oauth',
      'resource',
      'tenant_context',
      'transport',
    ]);
    expect(describeIgnored(ignored)).toMatch(/^ignoring WSO2 API-M settings Meterline does not use \(see docs\/migration-from-wso2\.md\): server\.hostname, .*, transport$/);
    expect(describeIgnored([])).toBeUndefined();
  });

  it('an unset variable in an ignored setting stops nothing; in a read one it is named', () => {
    expect(load('[apim.analytics]\nauth_token = "$env{CHOREO_KEY}"\n').ignored).toEqual(['apim.analytics']);
    expect(problemsOf('[database.apim_db]\ntype = "postgre"\nurl = "jdbc:postgresql://db:5432/apim_db"\npassword = "$env{APIM_DB_PASSWORD}"\n')).toEqual([
      expect.stringMatching(/^database\.apim_db\.password: environment variable APIM_DB_PASSWORD is not set/),
    ]);
  });
});

describe("Meterline's own keys stay strict: a misspelling is named", () => {
  it.each([
    ['[apim.monetization]\nmonetisation_impl = "stripe"\n', 'apim.monetization.monetisation_impl: unknown key'],
    ['[apim.monetization]\nusage_publish_crn = "0 * * * *"\n', 'apim.monetization.usage_publish_crn: unknown key'],
    ['[apim.monetisation]\nmonetization_impl = "stripe"\n', 'apim.monetisation: unknown key'],
    ['[apim.monetization.usage_publisher]\nsorce = "local"\n', 'apim.monetization.usage_publisher.sorce: unknown key'],
    ['[database.apim]\ntype = "postgres"\n', 'database.apim: unknown key'],
    ['[database.apim_db]\nhots = "db"\n', 'database.apim_db.hots: unknown key'],
    ['[server]\nhostnme = "apim.example.com"\n', 'server.hostnme: unknown key'],
    ['[super_admins]\nusername = "admin"\n', 'super_admins: unknown key'],
  ])('%s', (toml, problem) => {
    expect(problemsOf(toml)).toEqual([problem]);
  });
});

describe("WSO2's value types, where WSO2 writes them", () => {
  const attribute = (required: string) => `[[apim.monetization.additional_attributes]]\nname = "A"\ndisplay_name = "A"\nrequired = ${required}\nhidden = ${required}\n`;

  it.each([
    ['"true"', true],
    ['"false"', false],
    ['true', true],
  ])('additional attribute required/hidden = %s', (value, expected) => {
    expect(load(attribute(value)).config.apim.monetization.additional_attributes[0]).toMatchObject({ required: expected, hidden: expected });
  });

  it('a string that spells no boolean is refused, naming the key', () => {
    expect(problemsOf(attribute('"yes"'))).toEqual([
      expect.stringMatching(/^apim\.monetization\.additional_attributes\[0\]\.required: /),
      expect.stringMatching(/^apim\.monetization\.additional_attributes\[0\]\.hidden: /),
    ]);
  });

  it('hostname, port = "3306" and name: WSO2\'s spellings of host, port and database', () => {
    const { config } = load('[database.apim_db]\ntype = "mysql"\nhostname = "maria"\nport = "3307"\nname = "apim_db"\nusername = "u"\npassword = "p"\n');
    expect(config.database.apim_db).toMatchObject({ type: 'mysql', host: 'maria', port: 3307, database: 'apim_db' });
    expect(knexConfigFor(config.database.apim_db).connection).toMatchObject({ host: 'maria', port: 3307, database: 'apim_db' });
  });

  it('host and hostname together are refused; a port that is no number too', () => {
    expect(problemsOf('[database.apim_db]\ntype = "mysql"\nhost = "a"\nhostname = "b"\n')).toEqual(['database.apim_db.hostname: give host or hostname (WSO2\'s spelling), not both']);
    expect(problemsOf('[database.apim_db]\ntype = "mysql"\nhost = "a"\nport = "33o6"\n')).toEqual([expect.stringMatching(/^database\.apim_db\.port: /)]);
  });

  it('a Meterline-only key keeps its type (migrate_on_start = "false" is refused)', () => {
    expect(problemsOf('[database.apim_db]\nmigrate_on_start = "false"\n')).toEqual([expect.stringMatching(/^database\.apim_db\.migrate_on_start: /)]);
  });
});

describe('[database.apim_db] as WSO2 writes it', () => {
  const database = (lines: string) => problemsOf(`[database.apim_db]\n${lines}\n`);

  it.each([
    ['type = "postgre"\nurl = "jdbc:postgresql://db:5432/apim_db"', { type: 'postgres', host: 'db', port: 5432 }],
    ['type = "mysql"\nurl = "jdbc:mysql://db:3306/apim_db?useSSL=false&allowPublicKeyRetrieval=true"\ndriver = "com.mysql.cj.jdbc.Driver"', { type: 'mysql', host: 'db', port: 3306 }],
    ['type = "mysql"\nurl = "jdbc:mariadb://db:3307/apim_db"', { type: 'mysql', host: 'db', port: 3307 }],
    ['type = "mssql"\nurl = "jdbc:sqlserver://db:1433;databaseName=apim_db;SendStringParametersAsNVARCHAR=false"', { type: 'mssql', host: 'db', port: 1433 }],
    ['type = "oracle"\nurl = "jdbc:oracle:thin:@db:1521/ORCLPDB1"', { type: 'oracle', connect_string: 'db:1521/ORCLPDB1' }],
    ['type = "oracle"\nurl = "jdbc:oracle:thin:@db:1521:ORCL"', { type: 'oracle', connect_string: '(DESCRIPTION=(ADDRESS=(PROTOCOL=TCP)(HOST=db)(PORT=1521))(CONNECT_DATA=(SID=ORCL)))' }],
  ])('%s', (lines, expected) => {
    expect(load(`[database.apim_db]\n${lines}\n`).config.database.apim_db).toMatchObject(expected);
  });

  it('the monetization guide\'s section: flat pool settings and driverClassName, all strings', () => {
    const { config, ignored } = load(
      '[database.apim_db]\ntype = "mysql"\nurl = "jdbc:mysql://db.internal:3307/WSO2AM_DB?autoReconnect=true"\nusername = "xxx"\npassword = "yyy"\n' +
        'defaultAutoCommit = "false"\ndriverClassName = "com.mysql.jdbc.Driver"\nmaxActive = "50"\nmaxWait = "60000"\ntestOnBorrow = "true"\nvalidationQuery = "SELECT 1"\nvalidationInterval = "30000"\n',
    );
    expect(config.database.apim_db).toMatchObject({ type: 'mysql', host: 'db.internal', port: 3307, database: 'WSO2AM_DB', username: 'xxx', password: 'yyy' });
    expect(ignored).toEqual([
      'database.apim_db.defaultAutoCommit',
      'database.apim_db.driverClassName',
      'database.apim_db.maxActive',
      'database.apim_db.maxWait',
      'database.apim_db.testOnBorrow',
      'database.apim_db.validationQuery',
      'database.apim_db.validationInterval',
    ]);
    expect(problemsOf('[database.apim_db]\ntype = "postgre"\nurl = "jdbc:postgresql://db/apim"\ndriverClassName = "com.mysql.jdbc.Driver"\n')).toEqual([
      'database.apim_db.driverClassName: is a mysql driver, but type = "postgres"',
    ]);
  });

  it('username and password beside a connection URL without a user go into it; beside one with a user they are refused', () => {
    const { config } = load('[database.apim_db]\ntype = "postgres"\nurl = "postgres://db:5433/apim_db"\nusername = "wso2apim"\npassword = "p@ss:w/rd%"\n');
    expect(config.database.apim_db.url).toBe('postgres://wso2apim:p%40ss%3Aw%2Frd%25@db:5433/apim_db');
    expect(knexConfigFor(config.database.apim_db).connection).toBe(config.database.apim_db.url);
    expect(problemsOf('[database.apim_db]\ntype = "postgres"\nurl = "postgres://app:pw@db/apim_db"\nusername = "wso2apim"\n')).toEqual([
      'database.apim_db.username: the url names a user too: give the credentials in one place',
    ]);
  });

  it('the JDBC URL wins over host and port keys, as in WSO2', () => {
    const { config } = load('[database.apim_db]\ntype = "postgre"\nhostname = "other"\nport = 5432\nurl = "jdbc:postgresql://db:58432/apim_db"\n');
    expect(config.database.apim_db).toMatchObject({ host: 'db', port: 58432 });
  });

  it('mssql and oracle JDBC URLs become the connection knex gives their drivers', () => {
    const mssql = load('[database.apim_db]\ntype = "mssql"\nurl = "jdbc:sqlserver://sql:14330;databaseName=apim_db"\nusername = "sa"\npassword = "pw"\n').config.database.apim_db;
    expect(knexConfigFor(mssql).connection).toEqual({ server: 'sql', port: 14330, user: 'sa', password: 'pw', database: 'apim_db' });
    const oracle = load('[database.apim_db]\ntype = "oracle"\nurl = "jdbc:oracle:thin:@ora:1522/apim"\nusername = "apim"\npassword = "pw"\n').config.database.apim_db;
    expect(knexConfigFor(oracle).connection).toEqual({ user: 'apim', password: 'pw', connectString: 'ora:1522/apim' });
  });

  it.each([
    ['type = "h2"\nurl = "jdbc:h2:./repository/database/WSO2AM_DB;DB_CLOSE_ON_EXIT=FALSE"', /^database\.apim_db\.type: H2 \(WSO2's embedded default\) is not supported/],
    ['type = "postgres"\nurl = "jdbc:h2:./repository/database/WSO2AM_DB"', /^database\.apim_db\.url: names an H2 database/],
    ['type = "db2"\nurl = "jdbc:db2://db:50000/apim"', /^database\.apim_db\.type: must be one of "sqlite", "postgres"/],
    ['type = "mysql"\nurl = "jdbc:postgresql://db:58432/apim_db"', /^database\.apim_db\.url: is a JDBC URL for postgres, which does not match type = "mysql"/],
    ['type = "postgres"\nurl = "jdbc:postgresql://db:5432/apim_db?sslmode=require"', /^database\.apim_db\.url: asks for TLS/],
    ['type = "postgres"\nurl = "jdbc:postgresql://db:5432/apim_db"\ndriver = "com.mysql.cj.jdbc.Driver"', /^database\.apim_db\.driver: is a mysql driver, but type = "postgres"/],
    ['url = "jdbc:postgresql://db:58432/apim_db"', /^database\.apim_db\.type: is "sqlite" \(the default\), but url is set/],
  ])('refuses %s, naming the key', (lines, problem) => {
    expect(database(lines)).toEqual([expect.stringMatching(problem)]);
  });
});

const postgres = testDatabases().find((target) => target.kind === 'postgres');
(postgres === undefined ? describe.skip : describe)('a JDBC URL reaches the server it names (PostgreSQL)', () => {
  it('connects through jdbc:postgresql://host:port/db to that port', async () => {
    const admin = new URL(postgres?.adminUrl ?? '');
    const jdbc = `jdbc:postgresql://${admin.hostname}:${admin.port}${admin.pathname}`;
    const toml = `[database.apim_db]\ntype = "postgre"\nurl = "${jdbc}"\nusername = "${decodeURIComponent(admin.username)}"\npassword = "$env{PG_PASSWORD}"\ndriver = "org.postgresql.Driver"\n`;
    const { config } = load(toml, { PG_PASSWORD: decodeURIComponent(admin.password) });
    const db = connectDatabase(config.database.apim_db);
    try {
      const result = await db.raw('select inet_server_port() as port');
      expect(Number(result.rows[0].PORT)).toBe(Number(admin.port));
    } finally {
      await db.destroy();
    }
  });

  it('connects with username and password given beside a URL without them, as WSO2 writes them', async () => {
    const admin = new URL(postgres?.adminUrl ?? '');
    const toml = `[database.apim_db]\ntype = "postgres"\nurl = "postgres://${admin.host}${admin.pathname}"\nusername = "${decodeURIComponent(admin.username)}"\npassword = "$env{PG_PASSWORD}"\n`;
    const db = connectDatabase(load(toml, { PG_PASSWORD: decodeURIComponent(admin.password) }).config.database.apim_db);
    try {
      expect((await db.raw('select current_user as name')).rows[0].NAME).toBe(decodeURIComponent(admin.username));
    } finally {
      await db.destroy();
    }
  });
});
