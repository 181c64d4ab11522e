import { SERVER_DATABASES, type DatabaseConfig } from '../config/schema';

/**
 * Which database `[database.apim_db]` points at, for messages and logs: the type, then the file
 * or `host:port/database` (or Oracle's connect string). Never a user name or password.
 */
export function describeDatabase(db: DatabaseConfig): string {
  if (db.type === 'sqlite') return `sqlite ${db.filename}`;
  const { defaultPort } = SERVER_DATABASES[db.type];
  if (db.url !== undefined) {
    const url = new URL(db.url); // the schema has checked that it parses
    return `${db.type} ${url.hostname}:${url.port || defaultPort}/${decodeURIComponent(url.pathname.replace(/^\//, ''))}`;
  }
  if (db.type === 'oracle' && db.connect_string !== undefined) return `oracle ${db.connect_string}`;
  // The same defaults as knexConfigFor's connection parts and the drivers behind it.
  const host = db.host ?? (db.type === 'mssql' ? '127.0.0.1' : 'localhost');
  const database = db.database ?? (db.type === 'oracle' ? 'XEPDB1' : '');
  return `${db.type} ${host}:${db.port ?? defaultPort}/${database}`;
}
