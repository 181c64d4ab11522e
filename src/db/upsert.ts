import type { Knex } from 'knex';
import { isUniqueViolation } from './errors';

/**
 * Writes one row by its key on every database: insert, and if the key is already taken, update.
 * Insert-first avoids the gap locks that update-then-insert takes on MySQL (concurrent upserts
 * of different keys deadlock there), and knex's `onConflict` does not exist on SQL Server and
 * Oracle. Not for use inside a transaction on PostgreSQL, where a failed insert aborts it. Any
 * failure other than the key being taken is the caller's.
 */
export async function upsertRow(
  db: Knex,
  table: string,
  key: Record<string, unknown>,
  values: Record<string, unknown>,
): Promise<void> {
  try {
    await db(table).insert({ ...key, ...values });
  } catch (insertError) {
    if (!isUniqueViolation(insertError)) throw insertError;
    const updated = await db(table).where(key).update(values);
    if (updated === 0) throw insertError;
  }
}
