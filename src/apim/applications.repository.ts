import type { Knex } from 'knex';
import { dialectOf, storedName, tableExists } from '../db/dialect';
import { insertReturningId } from '../db/insert-returning-id';
import { chunks } from './apis.repository';
import type { ApplicationInput, ApplicationRecord, ApplicationTokenType, SubscriberRecord } from './model';

type Db = Knex | Knex.Transaction;

const COLUMNS = ['APPLICATION_ID', 'UUID', 'NAME', 'APPLICATION_TIER', 'DESCRIPTION', 'APPLICATION_STATUS', 'SUBSCRIBER_ID'] as const;

/**
 * AM_APPLICATION.TOKEN_TYPE as WSO2 writes it: the devportal's `tokenType` as sent, `JWT` or
 * `OAUTH` (the column has no default in WSO2's apimgt scripts: `TOKEN_TYPE VARCHAR(10)`).
 * `DEFAULT` (WSO2's `APIConstants.DEFAULT_TOKEN_TYPE`) marks an OAuth application migrated from
 * an older WSO2: it reads as OAUTH, and WSO2's update keeps it while the token type stays OAUTH
 * (APIConsumerImpl.updateApplication). NULL, as Meterline wrote it before, reads as JWT, the type
 * it always answered.
 */
const TOKEN_TYPE_COLUMN: Record<ApplicationTokenType, string> = { JWT: 'JWT', OAUTH: 'OAUTH' };
const MIGRATED_OAUTH = 'DEFAULT';

function tokenTypeOf(stored: unknown): ApplicationTokenType {
  return stored === null || stored === undefined || String(stored).toUpperCase() === 'JWT' ? 'JWT' : 'OAUTH';
}

/** WSO2's columns and tables Meterline's own schema does not create; present on a WSO2 database. */
interface Wso2Extras {
  tokenType: boolean;
  keyMappings: boolean;
}

/** AM_APPLICATION, always through its owner: a subscriber reaches only their own applications. */
export class ApplicationsRepository {
  constructor(private readonly db: Knex) {}

  private extras: Promise<Wso2Extras> | undefined;

  /** Asked once per process: WSO2's schema does not change under a running gateway. */
  private wso2Extras(): Promise<Wso2Extras> {
    this.extras ??= (async () => ({
      tokenType: await this.db.schema.hasColumn(storedName(dialectOf(this.db), 'AM_APPLICATION'), storedName(dialectOf(this.db), 'TOKEN_TYPE')),
      keyMappings: await tableExists(this.db, 'AM_APPLICATION_KEY_MAPPING'),
    }))();
    return this.extras;
  }

  async insert(owner: SubscriberRecord, uuid: string, input: ApplicationInput, now: string): Promise<number> {
    const extras = await this.wso2Extras();
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
        ...(extras.tokenType ? { TOKEN_TYPE: TOKEN_TYPE_COLUMN[input.tokenType] } : {}),
      },
      'APPLICATION_ID',
    );
  }

  /** Updates what the owner may change, as WSO2's update writes it (UPDATED_BY and UPDATED_TIME). */
  async update(owner: SubscriberRecord, applicationId: number, input: ApplicationInput, now: string): Promise<void> {
    const extras = await this.wso2Extras();
    const where = { APPLICATION_ID: applicationId, SUBSCRIBER_ID: owner.id };
    const stored = extras.tokenType ? (await this.db('AM_APPLICATION').where(where).first('TOKEN_TYPE'))?.TOKEN_TYPE : undefined;
    const tokenType = input.tokenType === 'OAUTH' && stored === MIGRATED_OAUTH ? MIGRATED_OAUTH : TOKEN_TYPE_COLUMN[input.tokenType];
    await this.db('AM_APPLICATION')
      .where(where)
      .update({
        NAME: input.name,
        APPLICATION_TIER: input.throttlingPolicy,
        DESCRIPTION: input.description,
        UPDATED_BY: owner.userId,
        UPDATED_TIME: now,
        ...(extras.tokenType ? { TOKEN_TYPE: tokenType } : {}),
      });
  }

  /**
   * Whether WSO2's Key Manager holds OAuth clients of the application (AM_APPLICATION_KEY_MAPPING
   * rows, which Meterline never writes): deleting the row would cascade to them and leave the
   * OAuth clients behind in the Key Manager.
   */
  async hasOAuthKeys(applicationId: number): Promise<boolean> {
    if (!(await this.wso2Extras()).keyMappings) return false;
    return (await this.db('AM_APPLICATION_KEY_MAPPING').where({ APPLICATION_ID: applicationId }).first('APPLICATION_ID')) !== undefined;
  }

  async findOwned(owner: SubscriberRecord, uuid: string, db: Db = this.db): Promise<ApplicationRecord | undefined> {
    const row = await db('AM_APPLICATION').where({ SUBSCRIBER_ID: owner.id, UUID: uuid }).first(await this.columns());
    return row ? fromRow(row, owner.userId) : undefined;
  }

  async findOwnedByName(owner: SubscriberRecord, name: string): Promise<ApplicationRecord | undefined> {
    const row = await this.db('AM_APPLICATION').where({ SUBSCRIBER_ID: owner.id, NAME: name }).first(await this.columns());
    return row ? fromRow(row, owner.userId) : undefined;
  }

  private async columns(): Promise<string[]> {
    return (await this.wso2Extras()).tokenType ? [...COLUMNS, 'TOKEN_TYPE'] : [...COLUMNS];
  }

  async listOwned(owner: SubscriberRecord, filter: { name?: string; limit: number; offset: number }): Promise<{ total: number; applications: ApplicationRecord[] }> {
    const base = () => {
      const q = this.db('AM_APPLICATION').where({ SUBSCRIBER_ID: owner.id });
      return filter.name === undefined ? q : q.andWhere({ NAME: filter.name });
    };
    const counted = await base().count({ TOTAL: '*' }).first();
    const rows = await base().orderBy([{ column: 'NAME' }, { column: 'APPLICATION_ID' }]).limit(filter.limit).offset(filter.offset).select(await this.columns());
    return { total: Number(counted?.TOTAL ?? 0), applications: rows.map((row) => fromRow(row, owner.userId)) };
  }

  /** An application's id by UUID, whatever its owner (for other parts: see core-records.ts). */
  async idOf(uuid: string): Promise<number | undefined> {
    const row = await this.db('AM_APPLICATION').where({ UUID: uuid }).first('APPLICATION_ID');
    return row ? Number(row.APPLICATION_ID) : undefined;
  }

  /** Applications' ids by UUID (as stored); UUIDs without an application are left out. */
  async idsOfUuids(uuids: readonly string[]): Promise<Map<string, number>> {
    const ids = new Map<string, number>();
    for (const part of chunks([...new Set(uuids)])) {
      const rows = (await this.db('AM_APPLICATION').whereIn('UUID', part).select('UUID', 'APPLICATION_ID')) as Array<Record<string, unknown>>;
      for (const row of rows) ids.set(String(row.UUID), Number(row.APPLICATION_ID));
    }
    return ids;
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
    tokenType: tokenTypeOf(row.TOKEN_TYPE),
    owner,
    subscriberId: Number(row.SUBSCRIBER_ID),
  };
}
