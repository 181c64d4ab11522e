import type { Knex } from 'knex';
import type { TenantRef } from '../domain/model';
import { dialectOf, storedName } from '../db/dialect';
import { insertReturningId } from '../db/insert-returning-id';
import { API_STATES, type ApiInput, type ApiRecord, type ApiState } from './model';
import { readTimestamp } from '../domain/time';
import type { CoreApi } from '../monetization/monetization';
import { SUPER_TENANT } from '../config/schema';

type Db = Knex | Knex.Transaction;

const COLUMNS = ['API_ID', 'API_UUID', 'API_NAME', 'API_VERSION', 'CONTEXT', 'API_PROVIDER', 'API_TYPE', 'STATUS', 'CREATED_TIME'] as const;

/** WSO2's AM_API columns Meterline's own schema does not create; present on a WSO2 database. */
const WSO2_EXTRA_COLUMNS = { contextTemplate: 'CONTEXT_TEMPLATE', versionComparable: 'VERSION_COMPARABLE', displayName: 'API_DISPLAY_NAME' } as const;
type Wso2Extras = Record<keyof typeof WSO2_EXTRA_COLUMNS, boolean>;

/** WSO2's placeholder for the version inside a context (`/{version}/weather`). */
const VERSION_PLACEHOLDER = '{version}';

/**
 * The context columns as WSO2's publisher writes them (APIMappingUtil / ApiMgtDAO.addAPI): CONTEXT
 * is the invocation context, the version appended (or put where `{version}` stands) and, outside
 * the super tenant, prefixed with `/t/{tenant}`; CONTEXT_TEMPLATE is the same before the version
 * is put in, without a trailing `/{version}`.
 */
export function wso2Contexts(tenant: TenantRef, context: string, version: string): { context: string; template: string } {
  const prefixed = tenant.domain === SUPER_TENANT.domain ? context : `/t/${tenant.domain}${context}`;
  const full = prefixed.includes(VERSION_PLACEHOLDER) ? prefixed.replace(VERSION_PLACEHOLDER, version) : `${prefixed}/${version}`;
  return { context: full, template: prefixed.endsWith(`/${VERSION_PLACEHOLDER}`) ? prefixed.slice(0, -VERSION_PLACEHOLDER.length - 1) : prefixed };
}

/**
 * The context the REST API answers, as WSO2's `API.context`: the template without the tenant
 * prefix. Rows without a template (Meterline's own schema) hold the full context, whose
 * trailing `/{version}` is taken off; rows written before Meterline appended it hold the bare one.
 */
function answeredContext(row: Record<string, unknown>, tenant: TenantRef): string {
  const version = String(row.API_VERSION);
  let context = row.CONTEXT_TEMPLATE != null ? String(row.CONTEXT_TEMPLATE) : String(row.CONTEXT ?? '');
  if (row.CONTEXT_TEMPLATE == null && context.endsWith(`/${version}`)) context = context.slice(0, -version.length - 1);
  const prefix = `/t/${tenant.domain}`;
  return tenant.domain !== SUPER_TENANT.domain && context.startsWith(`${prefix}/`) ? context.slice(prefix.length) : context;
}

/**
 * AM_API and its tiers (ML_API_POLICY), always within one tenant (ORGANIZATION = tenant domain).
 * WSO2 API-M 4.x keeps an API's subscription tiers only in its registry artifact: its apimgt
 * scripts have no column for them (AM_API.API_TIER and AM_API_REVISION_METADATA.API_TIER hold the
 * API-level throttling policy, AM_API_CLIENT_CERTIFICATE.TIER_NAME a client certificate's tier).
 * An API WSO2 created therefore has no tiers here until `PUT /apis/{apiId}` sets them.
 */
export class ApisRepository {
  constructor(private readonly db: Knex) {}

  private extras: Promise<Wso2Extras> | undefined;

  /** Asked once per process: WSO2's schema does not change under a running gateway. */
  private wso2Extras(db: Db = this.db): Promise<Wso2Extras> {
    this.extras ??= (async () => {
      const dialect = dialectOf(this.db);
      const has = (column: string) => db.schema.hasColumn(storedName(dialect, 'AM_API'), storedName(dialect, column));
      return {
        contextTemplate: await has(WSO2_EXTRA_COLUMNS.contextTemplate),
        versionComparable: await has(WSO2_EXTRA_COLUMNS.versionComparable),
        displayName: await has(WSO2_EXTRA_COLUMNS.displayName),
      };
    })();
    return this.extras;
  }

  private async columns(db: Db = this.db): Promise<string[]> {
    const extras = await this.wso2Extras(db);
    return [...COLUMNS, ...(extras.contextTemplate ? ['CONTEXT_TEMPLATE'] : []), ...(extras.displayName ? ['API_DISPLAY_NAME'] : [])];
  }

  /**
   * Inserts the API and its tiers in one transaction, with WSO2's values: CONTEXT and
   * CONTEXT_TEMPLATE (see `wso2Contexts`), VERSION_COMPARABLE (WSO2's version timestamp: the
   * creation time in epoch milliseconds, which orders an API's versions) and API_DISPLAY_NAME
   * (the display name, else the name), where the database has those columns.
   */
  async insert(tenant: TenantRef, uuid: string, input: ApiInput, createdBy: string, now: string): Promise<number> {
    const extras = await this.wso2Extras();
    const contexts = wso2Contexts(tenant, input.context, input.version);
    return this.db.transaction(async (trx) => {
      const id = await insertReturningId(
        trx,
        'AM_API',
        {
          API_UUID: uuid,
          API_PROVIDER: input.provider,
          API_NAME: input.name,
          API_VERSION: input.version,
          CONTEXT: contexts.context,
          API_TYPE: input.type,
          STATUS: 'CREATED',
          ORGANIZATION: tenant.domain,
          CREATED_BY: createdBy,
          CREATED_TIME: now,
          ...(extras.contextTemplate ? { CONTEXT_TEMPLATE: contexts.template } : {}),
          ...(extras.versionComparable ? { VERSION_COMPARABLE: String(Date.parse(`${now.replace(' ', 'T')}Z`)) } : {}),
          ...(extras.displayName ? { API_DISPLAY_NAME: input.displayName ?? input.name } : {}),
        },
        'API_ID',
      );
      for (const name of new Set(input.policies)) await trx('ML_API_POLICY').insert({ API_ID: id, POLICY_NAME: name });
      return id;
    });
  }

  /** Replaces the API's display name (where the column exists) and tiers in one transaction. */
  async update(apiId: number, change: { displayName: string; policies: readonly string[] }, updatedBy: string, now: string): Promise<void> {
    const extras = await this.wso2Extras();
    await this.db.transaction(async (trx) => {
      await trx('AM_API')
        .where({ API_ID: apiId })
        .update({ UPDATED_BY: updatedBy, UPDATED_TIME: now, ...(extras.displayName ? { API_DISPLAY_NAME: change.displayName } : {}) });
      await trx('ML_API_POLICY').where({ API_ID: apiId }).delete();
      for (const name of new Set(change.policies)) await trx('ML_API_POLICY').insert({ API_ID: apiId, POLICY_NAME: name });
    });
  }

  async findByUuid(tenant: TenantRef, uuid: string, db: Db = this.db): Promise<ApiRecord | undefined> {
    const row = await db('AM_API').where({ ORGANIZATION: tenant.domain, API_UUID: uuid }).first(await this.columns(db));
    if (!row) return undefined;
    return fromRow(row, tenant, await this.policiesOf([Number(row.API_ID)], db));
  }

  async findById(tenant: TenantRef, apiId: number): Promise<ApiRecord | undefined> {
    const row = await this.db('AM_API').where({ ORGANIZATION: tenant.domain, API_ID: apiId }).first(await this.columns());
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
      .select(await this.columns());
    const policies = await this.policiesOf(rows.map((r) => Number(r.API_ID)));
    return { total: Number(counted?.TOTAL ?? 0), apis: rows.map((row) => fromRow(row, tenant, policies)) };
  }

  /**
   * The tenant's API with this name and version, or with this context, if any: the context
   * compared as WSO2 stores it (template, full context) and as Meterline stored it before.
   */
  async findClash(tenant: TenantRef, input: { name: string; version: string; context: string }): Promise<'name' | 'context' | undefined> {
    const sameName = await this.db('AM_API')
      .where({ ORGANIZATION: tenant.domain, API_NAME: input.name, API_VERSION: input.version })
      .first('API_ID');
    if (sameName) return 'name';
    // Compared as the REST API answers each stored context (see `answeredContext`), so rows with
    // and without a version in CONTEXT, or a template, all count.
    const full = wso2Contexts(tenant, input.context, input.version).context;
    const rows = await this.db('AM_API')
      .where({ ORGANIZATION: tenant.domain })
      .select(['API_VERSION', 'CONTEXT', ...((await this.wso2Extras()).contextTemplate ? ['CONTEXT_TEMPLATE'] : [])]);
    return rows.some((row) => String(row.CONTEXT) === full || answeredContext(row, tenant) === input.context) ? 'context' : undefined;
  }

  /** An API by UUID whatever its tenant (for the engine port and other parts: see core-records.ts). */
  async refByUuid(uuid: string): Promise<ApiRef | undefined> {
    const row = await this.db('AM_API').where({ API_UUID: uuid }).first(REF_COLUMNS);
    return row ? toRef(row) : undefined;
  }

  /** APIs by UUID (as stored); UUIDs without an API are left out. */
  async refsByUuids(uuids: readonly string[]): Promise<Map<string, ApiRef>> {
    const refs = new Map<string, ApiRef>();
    for (const part of chunks([...new Set(uuids)])) {
      for (const row of await this.db('AM_API').whereIn('API_UUID', part).select(REF_COLUMNS)) refs.set(String(row.API_UUID), toRef(row));
    }
    return refs;
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
    context: answeredContext(row, tenant),
    displayName: row.API_DISPLAY_NAME != null ? String(row.API_DISPLAY_NAME) : null,
    provider: String(row.API_PROVIDER),
    type: String(row.API_TYPE ?? 'HTTP'),
    status: (API_STATES as readonly string[]).includes(status) ? (status as ApiState) : 'CREATED',
    tenant,
    policies: policies.get(id) ?? [],
    createdTime: readTimestamp(row.CREATED_TIME),
  };
}
