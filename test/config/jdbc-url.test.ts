import { parseJdbcUrl } from '../../src/config/jdbc-url';

const target = (url: string) => {
  const parsed = parseJdbcUrl(url);
  if (!parsed.ok) throw new Error(`refused: ${parsed.problem}`);
  return parsed.target;
};
const problem = (url: string) => {
  const parsed = parseJdbcUrl(url);
  if (parsed.ok) throw new Error(`accepted: ${JSON.stringify(parsed.target)}`);
  return parsed.problem;
};

describe('JDBC URLs as WSO2 writes them', () => {
  it.each([
    ['jdbc:postgresql://127.0.0.1:58432/apim_db', { type: 'postgres', host: '127.0.0.1', port: 58432, database: 'apim_db' }],
    ['jdbc:postgresql://db.internal/apim_db', { type: 'postgres', host: 'db.internal', database: 'apim_db' }],
    ['jdbc:postgresql://db:80/apim_db', { type: 'postgres', host: 'db', port: 80, database: 'apim_db' }],
    ['jdbc:postgresql://[::1]:5433/apim_db', { type: 'postgres', host: '::1', port: 5433, database: 'apim_db' }],
    ['jdbc:postgresql://db/apim_db?user=apim&password=p%40ss&loginTimeout=5', { type: 'postgres', host: 'db', database: 'apim_db', username: 'apim', password: 'p@ss' }],
    ['jdbc:mysql://localhost:3306/apim_db?useSSL=false&allowPublicKeyRetrieval=true&serverTimezone=UTC', { type: 'mysql', host: 'localhost', port: 3306, database: 'apim_db' }],
    ['jdbc:mariadb://maria:3307/apim_db', { type: 'mysql', host: 'maria', port: 3307, database: 'apim_db' }],
    ['jdbc:sqlserver://sql:14330;databaseName=apim_db;SendStringParametersAsNVARCHAR=false;encrypt=false', { type: 'mssql', host: 'sql', port: 14330, database: 'apim_db' }],
    ['jdbc:sqlserver://;serverName=sql;portNumber=1433;DATABASENAME=apim_db;user=sa;password=s3cret', { type: 'mssql', host: 'sql', port: 1433, database: 'apim_db', username: 'sa', password: 's3cret' }],
    ['jdbc:oracle:thin:@ora:1521/ORCLPDB1', { type: 'oracle', host: 'ora', port: 1521, database: 'ORCLPDB1', connectString: 'ora:1521/ORCLPDB1' }],
    ['jdbc:oracle:thin:@//ora:1522/apim', { type: 'oracle', host: 'ora', port: 1522, database: 'apim', connectString: 'ora:1522/apim' }],
    [
      'jdbc:oracle:thin:@ora:1521:ORCL',
      { type: 'oracle', host: 'ora', port: 1521, database: 'ORCL', connectString: '(DESCRIPTION=(ADDRESS=(PROTOCOL=TCP)(HOST=ora)(PORT=1521))(CONNECT_DATA=(SID=ORCL)))' },
    ],
    ['jdbc:oracle:thin:@(DESCRIPTION=(ADDRESS=(HOST=ora)(PORT=1521))(CONNECT_DATA=(SERVICE_NAME=apim)))', { type: 'oracle', connectString: '(DESCRIPTION=(ADDRESS=(HOST=ora)(PORT=1521))(CONNECT_DATA=(SERVICE_NAME=apim)))' }],
  ])('%s', (url, expected) => {
    expect(target(url)).toEqual(expected);
  });

  it.each([
    ['jdbc:h2:./repository/database/WSO2AM_DB;DB_CLOSE_ON_EXIT=FALSE', /H2 database, which Meterline does not support/],
    ['jdbc:db2://db:50000/apim', /"jdbc:db2:", which Meterline does not support/],
    ['postgres-ish', /is not a JDBC URL/],
    ['jdbc:postgresql:apim_db', /must name a host/],
    ['jdbc:postgresql://db:5432/', /must name the database/],
    ['jdbc:postgresql://db:99999/apim', /must be host, port and database/],
    ['jdbc:postgresql://a:5432,b:5432/apim', /several hosts/],
    ['jdbc:postgresql://db/apim?sslmode=require', /asks for TLS/],
    ['jdbc:postgresql://db/apim?currentSchema=wso2', /currentSchema/],
    ['jdbc:mysql://db/apim?useSSL=true', /asks for TLS/],
    ['jdbc:mysql:loadbalance://a,b/apim', /must name a host/],
    ['jdbc:sqlserver://sql\\SQLEXPRESS;databaseName=apim', /SQL Server instance/],
    ['jdbc:sqlserver://sql:1433', /must name the database/],
    ['jdbc:sqlserver://sql:70000;databaseName=apim', /port that is not a number/],
    ['jdbc:oracle:oci:@ora:1521/apim', /thin-driver URL/],
    ['jdbc:oracle:thin:@ora', /host, port and service or SID/],
  ])('refuses %s', (url, expected) => {
    expect(problem(url)).toMatch(expected);
  });

  it('never quotes the URL in a problem (it may hold a password)', () => {
    expect(problem('jdbc:postgresql://db/apim?password=hunter2&sslmode=require')).not.toContain('hunter2');
  });
});
