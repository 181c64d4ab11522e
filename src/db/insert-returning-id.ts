import type { Knex } from 'knex';

/**
 * Inserts one row and returns its generated id on every database: PostgreSQL, SQL Server,
 * Oracle and SQLite answer `RETURNING`; MySQL answers the insert id instead.
 */
export async function insertReturningId(
  db: Knex | Knex.Transaction,
  table: string,
  row: Record<string, unknown>,
  idColumn: string,
): Promise<number> {
  const result: unknown[] = await db(table).insert(row, [idColumn]);
  const first = result[0];
  if (typeof first === 'number') return first;
  if (typeof first === 'object' && first !== null) {
    const value = (first as Record<string, unknown>)[idColumn] ?? (first as Record<string, unknown>)[idColumn.toLowerCase()];
    if (value !== undefined && value !== null) return Number(value);
  }
  throw new Error(`insert into ${table} returned no ${idColumn}`);
}
