/** Why a migration refused to touch an existing schema; every conflict is reported at once. */
export type SchemaConflict =
  /** A gateway table exists (WSO2's) but lacks columns Meterline reads or writes. */
  | { readonly kind: 'missing-columns'; readonly table: string; readonly columns: readonly string[] }
  /** A table Meterline must create itself already exists and was not created by Meterline. */
  | { readonly kind: 'table-exists'; readonly table: string }
  /**
   * PostgreSQL: the table exists only quoted in upper case (`"AM_API"`), where Meterline, like
   * WSO2's unquoted scripts, uses the lower-case name (`am_api`).
   */
  | { readonly kind: 'quoted-name'; readonly table: string; readonly storedAs: string }
  /**
   * An adopted table (WSO2's guide gives it no key) holds rows Meterline cannot tell apart where
   * it needs one row per key; `duplicates` names up to ten of them.
   */
  | { readonly kind: 'duplicate-rows'; readonly table: string; readonly columns: readonly string[]; readonly duplicates: readonly string[] };

/**
 * Thrown by a migration's `up` before it changes anything, when the database already holds
 * tables it cannot use or must not touch. An operator has to act; retrying will not help.
 */
export class SchemaConflictError extends Error {
  override readonly name = 'SchemaConflictError';
  readonly code = 'SCHEMA_CONFLICT';

  constructor(
    readonly migration: string,
    readonly conflicts: readonly SchemaConflict[],
  ) {
    super(
      `Migration ${migration} cannot run against the existing schema (see docs/database.md):\n` +
        conflicts.map((conflict) => `  - ${describe(conflict)}`).join('\n'),
    );
  }
}

function describe(conflict: SchemaConflict): string {
  switch (conflict.kind) {
    case 'missing-columns':
      return `${conflict.table} exists but lacks columns Meterline needs: ${conflict.columns.join(', ')}`;
    case 'table-exists':
      return (
        `${conflict.table} already exists and was not created by Meterline. Meterline creates this ` +
        `table itself (with the keys WSO2's scripts lack): move its rows aside, drop it, and migrate again`
      );
    case 'quoted-name':
      return (
        `${conflict.table} exists as "${conflict.storedAs}" (created quoted, in upper case); on ` +
        `PostgreSQL Meterline uses lower-case names, as WSO2's scripts leave them, and will not ` +
        `create "${conflict.table.toLowerCase()}" beside it. Rename it to the lower-case name ` +
        `(its columns too), or drop it, and migrate again`
      );
    case 'duplicate-rows':
      return (
        `${conflict.table} has several rows for one (${conflict.columns.join(', ')}), where Meterline needs one row each: ` +
        `${conflict.duplicates.join('; ')}. Keep the row WSO2 uses, delete the others, and migrate again`
      );
  }
}
