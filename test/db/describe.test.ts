import { parseConfig } from '../../src/config/load';
import { connectionFailureMessage, DatabaseUnreachableError } from '../../src/db/connect';
import { describeDatabase } from '../../src/db/describe';
import { knexConfigFor } from '../../src/db/knex-config';

/** `[database.apim_db]` as the schema completes it. */
function database(apimDb: Record<string, unknown>) {
  return parseConfig({ database: { apim_db: apimDb } }, {}, 'test', 'database').database.apim_db;
}

describe('describeDatabase: which database, never who logs in', () => {
  it.each([
    [{}, 'sqlite data/meterline.db'],
    [{ type: 'postgres', url: 'postgres://meterline:s3cret@127.0.0.1:5432/apim_db' }, 'postgres 127.0.0.1:5432/apim_db'],
    [{ type: 'postgres', url: 'postgresql://meterline:s3cret@db.internal/apim_db' }, 'postgres db.internal:5432/apim_db'],
    [{ type: 'mysql', url: 'mysql://meterline:s3cret@127.0.0.1:33306/apim_db' }, 'mysql 127.0.0.1:33306/apim_db'],
    [{ type: 'mysql', host: 'db', username: 'meterline', password: 's3cret', database: 'apim_db' }, 'mysql db:3306/apim_db'],
    [{ type: 'mssql', host: 'sql', port: 1444, username: 'sa', password: 's3cret', database: 'apim' }, 'mssql sql:1444/apim'],
    [{ type: 'oracle', connect_string: 'ora:1521/XEPDB1', username: 'apim', password: 's3cret' }, 'oracle ora:1521/XEPDB1'],
    [{ type: 'oracle', url: 'oracle://apim:s3cret@ora/XEPDB1' }, 'oracle ora:1521/XEPDB1'],
  ])('%j is "%s"', (apimDb, expected) => {
    const text = describeDatabase(database(apimDb));
    expect(text).toBe(expected);
    expect(text).not.toMatch(/s3cret|meterline@|sa@/);
  });
});

describe('DatabaseUnreachableError', () => {
  it('is one line: the database, then the driver message', () => {
    const error = new DatabaseUnreachableError('postgres 127.0.0.1:5999/apim_db', new Error('connect ECONNREFUSED 127.0.0.1:5999'));
    expect(error.message).toBe('database postgres 127.0.0.1:5999/apim_db is not reachable: connect ECONNREFUSED 127.0.0.1:5999');
  });

  it('spells out an AggregateError (a host name with several addresses), whose own message is empty', () => {
    const both = new AggregateError([new Error('connect ECONNREFUSED ::1:5999'), new Error('connect ECONNREFUSED 127.0.0.1:5999')], '');
    expect(connectionFailureMessage(both)).toBe('connect ECONNREFUSED ::1:5999, connect ECONNREFUSED 127.0.0.1:5999');
  });
});

describe('connection failures read as one line', () => {
  it('a driver message over two lines (oracledb) is joined', () => {
    const error = new Error('NJS-503: connection to host 127.0.0.1 port 5997 could not be established.\nconnect ECONNREFUSED 127.0.0.1:5997');
    expect(connectionFailureMessage(error)).toBe('NJS-503: connection to host 127.0.0.1 port 5997 could not be established. connect ECONNREFUSED 127.0.0.1:5997');
  });
});

describe('an mssql url', () => {
  it('reaches the driver with a numeric port, which it requires', () => {
    const config = knexConfigFor(database({ type: 'mssql', url: 'mssql://sa:p%40ss@sql.internal:1444/apim?options={"encrypt":false}' }));
    expect(config.connection).toEqual({ server: 'sql.internal', port: 1444, user: 'sa', password: 'p@ss', database: 'apim', options: { encrypt: false } });
  });
});
