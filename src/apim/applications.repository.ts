import type { Knex } from 'knex';
import { insertReturningId } from '../db/insert-returning-id';
import { chunks } from './apis.repository';
import type { ApplicationInput, ApplicationRecord, SubscriberRecord } from './model';

type Db = Knex | Knex.Transaction;

const COLUMNS = ['APPLICATION_ID', 'UUID', 'NAME', 'APPLICATION_TIER', 'DESCRIPTION', 'APPLICATION_STATUS', 'SUBSCRIBER_ID'] as const;

/** AM_APPLICATION, always through its owner: a subscriber reaches only their own applications. */
export class ApplicationsRepository {
  constructor(private readonly db: Knex) {}

  async insert(owner: SubscriberRecord, uuid: string, input: ApplicationInput, now: string): Promise<number> {
    return insertReturningId(
      this.db,
      'AM_APPLICATION',
      {
        NAME: input.name,
        SUBSCRIBER_ID: owner.id,
        APPLICATION_TIER: input.throttlingPolicy,
        DESCRIPTION: input.description,
        APPLICATION_STATUS: 'APPROVED',
        UUID: uuid,
        ORGANIZATION: owner.tenant.domain,
        CREATED_BY: owner.userId,
        CREATED_TIME: now,
      },
      'APPLICATION_ID',
    );
  }

  async findOwned(owner: SubscriberRecord, uuid: string, db: Db = this.db): Promise<ApplicationRecord | undefined> {
    const row = await db('AM_APPLICATION').where({ SUBSCRIBER_ID: owner.id, UUID: uuid }).first(COLUMNS);
    return row ? fromRow(row, owner.userId) : undefined;
  }

  async findOwnedByName(owner: SubscriberRecord, name: string): Promise<ApplicationRecord | undefined> {
    const row = await this.db('AM_APPLICATION').where({ SUBSCRIBER_ID: owner.id, NAME: name }).first(COLUMNS);
    return row ? fromRow(row, owner.userId) : undefined;
  }

  async listOwned(owner: SubscriberRecord, filter: { name?: string; limit: number; offset: number }): Promise<{ total: number; applications: ApplicationRecord[] }> {
    const base = () => {
      const q = this.db('AM_APPLICATION').where({ SUBSCRIBER_ID: owner.id });
      return filter.name === undefined ? q : q.andWhere({ NAME: filter.name });
    };
    const counted = await base().count({ TOTAL: '*' }).first();
    const rows = await base().orderBy([{ column: 'NAME' }, { column: 'APPLICATION_ID' }]).limit(filter.limit).offset(filter.offset).select(COLUMNS);
    return { total: Number(counted?.TOTAL ?? 0), applications: rows.map((row) => fromRow(row, owner.userId)) };
  }

  /** An application's id by UUID, whatever its owner (for other parts: see core-records.ts). */
  async idOf(uuid: string): Promise<number | undefined> {
    const row = await this.db('AM_APPLICATION').where({ UUID: uuid }).first('APPLICATION_ID');
    return row ? Number(row.APPLICATION_ID) : undefined;
  }

  /** The ids of a subscriber's applications. */
  async idsOfSubscriber(subscriberId: number): Promise<number[]> {
    const rows = await this.db('AM_APPLICATION').where({ SUBSCRIBER_ID: subscriberId }).orderBy('APPLICATION_ID').select('APPLICATION_ID');
    return rows.map((row: { APPLICATION_ID: unknown }) => Number(row.APPLICATION_ID));
  }

  /** Applications' keys by id, whatever their owner; ids without an application are left out. */
  async refsOf(applicationIds: readonly number[]): Promise<Map<number, { uuid: string; name: string; subscriberId: number }>> {
    const refs = new Map<number, { uuid: string; name: string; subscriberId: number }>();
    for (const ids of chunks([...new Set(applicationIds)])) {
      const rows = await this.db('AM_APPLICATION').whereIn('APPLICATION_ID', ids).select('APPLICATION_ID', 'UUID', 'NAME', 'SUBSCRIBER_ID');
      for (const row of rows) refs.set(Number(row.APPLICATION_ID), { uuid: String(row.UUID), name: String(row.NAME), subscriberId: Number(row.SUBSCRIBER_ID) });
    }
    return refs;
  }

  async delete(applicationId: number): Promise<void> {
    await this.db('AM_APPLICATION').where({ APPLICATION_ID: applicationId }).delete();
  }
}

function fromRow(row: Record<string, unknown>, owner: string): ApplicationRecord {
  return {
    id: Number(row.APPLICATION_ID),
    uuid: String(row.UUID),
    name: String(row.NAME),
    throttlingPolicy: String(row.APPLICATION_TIER ?? 'Unlimited'),
    description: row.DESCRIPTION === null || row.DESCRIPTION === undefined ? null : String(row.DESCRIPTION),
    status: String(row.APPLICATION_STATUS ?? 'APPROVED'),
    owner,
    subscriberId: Number(row.SUBSCRIBER_ID),
  };
}
