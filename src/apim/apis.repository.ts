import type { Knex } from 'knex';
import type { TenantRef } from '../domain/model';
import { insertReturningId } from '../db/insert-returning-id';
import { API_STATES, type ApiInput, type ApiRecord, type ApiState } from './model';
import { readTimestamp } from '../domain/time';
import type { CoreApi } from '../monetization/monetization';

type Db = Knex | Knex.Transaction;

const COLUMNS = ['API_ID', 'API_UUID', 'API_NAME', 'API_VERSION', 'CONTEXT', 'API_PROVIDER', 'API_TYPE', 'STATUS', 'CREATED_TIME'] as const;

/** AM_API and its tiers (ML_API_POLICY), always within one tenant (ORGANIZATION = tenant domain). */
export class ApisRepository {
  constructor(private readonly db: Knex) {}

  /** Inserts the API and its tiers in one transaction. */
  async insert(tenant: TenantRef, uuid: string, input: ApiInput, createdBy: string, now: string): Promise<number> {
    return this.db.transaction(async (trx) => {
      const id = await insertReturningId(
        trx,
        'AM_API',
        {
          API_UUID: uuid,
          API_PROVIDER: input.provider,
          API_NAME: input.name,
          API_VERSION: input.version,
          CONTEXT: input.context,
          API_TYPE: input.type,
          STATUS: 'CREATED',
          ORGANIZATION: tenant.domain,
          CREATED_BY: createdBy,
          CREATED_TIME: now,
        },
        'API_ID',
      );
      for (const name of new Set(input.policies)) await trx('ML_API_POLICY').insert({ API_ID: id, POLICY_NAME: name });
      return id;
    });
  }

  async findByUuid(tenant: TenantRef, uuid: string, db: Db = this.db): Promise<ApiRecord | undefined> {
    const row = await db('AM_API').where({ ORGANIZATION: tenant.domain, API_UUID: uuid }).first(COLUMNS);
    if (!row) return undefined;
    return fromRow(row, tenant, await this.policiesOf([Number(row.API_ID)], db));
  }

  async findById(tenant: TenantRef, apiId: number): Promise<ApiRecord | undefined> {
    const row = await this.db('AM_API').where({ ORGANIZATION: tenant.domain, API_ID: apiId }).first(COLUMNS);
    if (!row) return undefined;
    return fromRow(row, tenant, await this.policiesOf([Number(row.API_ID)]));
  }

  /** Whether any API of the tenant offers the policy (ML_API_POLICY). */
  async offersPolicy(tenant: TenantRef, policyName: string): Promise<boolean> {
    const offered = await this.db('ML_API_POLICY')
      .join('AM_API', 'AM_API.API_ID', 'ML_API_POLICY.API_ID')
      .where({ 'AM_API.ORGANIZATION': tenant.domain, 'ML_API_POLICY.POLICY_NAME': policyName })
      .first('ML_API_POLICY.API_ID');
    return offered !== undefined;
  }

  async list(tenant: TenantRef, page: { limit: number; offset: number }): Promise<{ total: number; apis: ApiRecord[] }> {
    const counted = await this.db('AM_API').where({ ORGANIZATION: tenant.domain }).count({ TOTAL: '*' }).first();
    const rows = await this.db('AM_API')
      .where({ ORGANIZATION: tenant.domain })
      .orderBy([{ column: 'API_NAME' }, { column: 'API_VERSION' }, { column: 'API_ID' }])
      .limit(page.limit)
      .offset(page.offset)
      .select(COLUMNS);
    const policies = await this.policiesOf(rows.map((r) => Number(r.API_ID)));
    return { total: Number(counted?.TOTAL ?? 0), apis: rows.map((row) => fromRow(row, tenant, policies)) };
  }

  /** The tenant's API with this name and version, or with this context, if any. */
  async findClash(tenant: TenantRef, input: { name: string; version: string; context: string }): Promise<'name' | 'context' | undefined> {
    const sameName = await this.db('AM_API')
      .where({ ORGANIZATION: tenant.domain, API_NAME: input.name, API_VERSION: input.version })
      .first('API_ID');
    if (sameName) return 'name';
    const sameContext = await this.db('AM_API').where({ ORGANIZATION: tenant.domain, CONTEXT: input.context }).first('API_ID');
    return sameContext ? 'context' : undefined;
  }

  /** An API by UUID whatever its tenant (for the engine port and other parts: see core-records.ts). */
  async refByUuid(uuid: string): Promise<ApiRef | undefined> {
    const row = await this.db('AM_API').where({ API_UUID: uuid }).first(REF_COLUMNS);
    return row ? toRef(row) : undefined;
  }

  /** APIs by id; ids without an API are left out. */
  async refsByIds(apiIds: readonly number[], db: Db = this.db): Promise<Map<number, ApiRef>> {
    const refs = new Map<number, ApiRef>();
    for (const ids of chunks([...new Set(apiIds)])) {
      for (const row of await db('AM_API').whereIn('API_ID', ids).select(REF_COLUMNS)) refs.set(Number(row.API_ID), toRef(row));
    }
    return refs;
  }

  /** Every API of a tenant. */
  async refsOfTenant(tenantDomain: string): Promise<ApiRef[]> {
    return (await this.db('AM_API').where({ ORGANIZATION: tenantDomain }).orderBy('API_ID').select(REF_COLUMNS)).map(toRef);
  }

  async setStatus(apiId: number, status: ApiState, updatedBy: string, now: string): Promise<void> {
    await this.db('AM_API').where({ API_ID: apiId }).update({ STATUS: status, UPDATED_BY: updatedBy, UPDATED_TIME: now });
  }

  private async policiesOf(apiIds: number[], db: Db = this.db): Promise<Map<number, string[]>> {
    const result = new Map<number, string[]>();
    if (apiIds.length === 0) return result;
    const rows = await db('ML_API_POLICY').whereIn('API_ID', apiIds).orderBy('POLICY_NAME').select('API_ID', 'POLICY_NAME');
    for (const row of rows) {
      const id = Number(row.API_ID);
      result.set(id, [...(result.get(id) ?? []), String(row.POLICY_NAME)]);
    }
    return result;
  }
}

const REF_COLUMNS = ['API_ID', 'API_UUID', 'API_NAME', 'API_VERSION', 'API_PROVIDER', 'ORGANIZATION'] as const;

/** An API's keys and names, whatever its tenant: what the engine port calls a CoreApi. */
export type ApiRef = CoreApi;

function toRef(row: Record<string, unknown>): ApiRef {
  return {
    id: Number(row.API_ID),
    uuid: String(row.API_UUID),
    name: String(row.API_NAME),
    version: String(row.API_VERSION),
    provider: String(row.API_PROVIDER),
    tenantDomain: String(row.ORGANIZATION),
  };
}

/** Keeps IN lists short enough for every dialect's parameter limit. */
export function chunks<T>(items: readonly T[], size = 500): T[][] {
  const result: T[][] = [];
  for (let i = 0; i < items.length; i += size) result.push(items.slice(i, i + size));
  return result;
}

function fromRow(row: Record<string, unknown>, tenant: TenantRef, policies: Map<number, string[]>): ApiRecord {
  const id = Number(row.API_ID);
  const status = String(row.STATUS ?? 'CREATED').toUpperCase();
  return {
    id,
    uuid: String(row.API_UUID),
    name: String(row.API_NAME),
    version: String(row.API_VERSION),
    context: String(row.CONTEXT ?? ''),
    provider: String(row.API_PROVIDER),
    type: String(row.API_TYPE ?? 'HTTP'),
    status: (API_STATES as readonly string[]).includes(status) ? (status as ApiState) : 'CREATED',
    tenant,
    policies: policies.get(id) ?? [],
    createdTime: readTimestamp(row.CREATED_TIME),
  };
}
