import type { Knex } from 'knex';

/**
 * Runs `use` on the driver's own connection that knex lends this query (inside a transaction,
 * the transaction's), released afterwards: for the few hot paths where knex's row objects or its
 * binding formatting cost more than the database's work (better-sqlite3's prepared statements,
 * pg's COPY). `Connection` is the caller's view of the driver's connection.
 */
export async function withDriverConnection<Connection, Result>(db: Knex | Knex.Transaction, use: (connection: Connection) => Result | Promise<Result>): Promise<Result> {
  const client = (db as unknown as { client: { acquireConnection(): Promise<unknown>; releaseConnection(c: unknown): Promise<void> } }).client;
  const connection = (await client.acquireConnection()) as Connection;
  try {
    return await use(connection);
  } finally {
    await client.releaseConnection(connection);
  }
}
