import type { Knex } from 'knex';
import { isUniqueViolation } from '../db/errors';

type Db = Knex | Knex.Transaction;

export const POSITION_TABLE = 'ML_USAGE_SOURCE_POSITION';

/** How far each usage source is frozen into records (ML_USAGE_SOURCE_POSITION). */
export class SourcePositions {
  constructor(private readonly db: Knex) {}

  async read(source: string, db: Db = this.db): Promise<number | undefined> {
    const row = await db(POSITION_TABLE).where({ SOURCE: source }).first('POSITION');
    return row ? Number(row.POSITION) : undefined;
  }

  /**
   * Moves the source's position from `from` to `to`, only if it still is `from` (or, for a
   * source never read, if no row exists yet): false means someone else froze that range, and
   * the caller's transaction must not insert its records.
   */
  async advance(tx: Knex.Transaction, source: string, from: number, to: number, existed: boolean, now: number): Promise<boolean> {
    if (!existed) {
      try {
        await tx(POSITION_TABLE).insert({ SOURCE: source, POSITION: to, UPDATED_AT: now });
        return true;
      } catch (error) {
        // A concurrent first freeze inserted the row: the primary key refused ours. The lease
        // makes this impossible in practice; if it happens, this transaction is rolled back.
        if (!isUniqueViolation(error)) throw error;
        if (await this.read(source)) return false;
        throw error;
      }
    }
    const n = await tx(POSITION_TABLE).where({ SOURCE: source, POSITION: from }).update({ POSITION: to, UPDATED_AT: now });
    return n === 1;
  }

  /**
   * The byte offsets read so far of the files an intake tails (the WSO2 analytics log), by key:
   * `<prefix><file fingerprint>`. Source names have no `:`, so a prefix ending in one never meets
   * a source's row.
   */
  async fileOffsets(prefix: string): Promise<Map<string, number>> {
    const rows = (await this.db(POSITION_TABLE).where('SOURCE', 'like', `${prefix}%`).select('SOURCE', 'POSITION')) as Array<{ SOURCE: string; POSITION: unknown }>;
    return new Map(rows.filter((r) => r.SOURCE.startsWith(prefix)).map((r) => [r.SOURCE, Number(r.POSITION)]));
  }

  /** Sets a tailed file's offset (an update, or the first insert; portable to every dialect). */
  async saveFileOffset(key: string, offset: number, now: number): Promise<void> {
    if ((await this.db(POSITION_TABLE).where({ SOURCE: key }).update({ POSITION: offset, UPDATED_AT: now })) === 1) return;
    try {
      await this.db(POSITION_TABLE).insert({ SOURCE: key, POSITION: offset, UPDATED_AT: now });
    } catch (error) {
      // Another reader inserted it first: ours is as good (re-read lines are duplicates).
      if (!isUniqueViolation(error)) throw error;
      await this.db(POSITION_TABLE).where({ SOURCE: key }).update({ POSITION: offset, UPDATED_AT: now });
    }
  }

  /** Forgets the offsets of tailed files that are gone (rotated away and deleted). */
  async forgetFileOffsets(keys: readonly string[]): Promise<void> {
    if (keys.length > 0) await this.db(POSITION_TABLE).whereIn('SOURCE', [...keys]).delete();
  }
}
