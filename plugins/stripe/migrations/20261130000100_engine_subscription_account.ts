import type { Knex } from 'knex';
import { columnValue } from '../../../src/db/dialect';
import { createOrAttachTables, dropOwnedTables, groupConflicts, type TableGroup, type TableSpec } from '../../../migrations/support/table-group';
import { adoptionsOf, forgetAdoption, recordAdoption, wasAdopted } from '../../../migrations/support/adoption';
import type { SchemaConflict } from '../../../migrations/support/schema-conflict';

/**
 * ML_ENGINE_SUBSCRIPTION: the account each billed subscription lives in, recorded when the
 * engine creates it (Stripe: the publisher's connected account). WSO2's
 * AM_MONETIZATION_SUBSCRIPTIONS has no account column and its shape is WSO2's, so the account is
 * kept here, keyed by the engine's subscription id (AM_MONETIZATION_SUBSCRIPTIONS.SUBSCRIPTION_ID).
 * Usage, cancel, previews and invoices then go to the subscription's own account, whatever the
 * API's monetization properties say later.
 *
 * `up` also records the account of every subscription billed before this migration: the one
 * its API was last monetized with (the account those subscriptions were created in, since an
 * API's account could not change while it was enabled).
 */
const MIGRATION = '20261130000100_engine_subscription_account';
const TABLE = 'ML_ENGINE_SUBSCRIPTION';

const engineSubscription: TableSpec = {
  name: TABLE,
  requiredColumns: [],
  references: [],
  define(t) {
    t.string('ENGINE_SUBSCRIPTION_ID', 255).notNullable();
    t.string('ENGINE_ACCOUNT', 255).notNullable();
    /** AM_SUBSCRIPTION.UUID of the gateway subscription it bills, when known. */
    t.string('SUBSCRIPTION_UUID', 256);
    t.bigInteger('CREATED_AT').notNullable();
    t.primary(['ENGINE_SUBSCRIPTION_ID'], 'ML_ENGINE_SUBSCRIPTION_PK');
  },
};

const group: TableGroup = { migration: MIGRATION, whenTableExists: 'refuse', tables: [engineSubscription] };

export const tables: readonly TableSpec[] = group.tables;

export function conflicts(knex: Knex): Promise<SchemaConflict[]> {
  return groupConflicts(knex, group);
}

export async function up(knex: Knex): Promise<void> {
  await createOrAttachTables(knex, group);
  await seedAdoptedMonetization(knex);
  await recordExistingAccounts(knex);
}

export async function down(knex: Knex): Promise<void> {
  await unseedAdoptedMonetization(knex);
  await dropOwnedTables(knex, group);
}

/**
 * WSO2 keeps whether an API is monetized, and the tiers it offers, in its API artifact, not in
 * its database; what its database shows is the API's plan copies in AM_MONETIZATION, one per
 * COMMERCIAL tier the API offered when it was monetized (WSO2's plugin writes them on enable and
 * deletes them on disable). When AM_MONETIZATION was adopted (support/adoption.ts), an API with
 * plan copies and no saved state here is recorded as monetized, with no properties (its
 * ConnectedAccountKey lives in WSO2's artifact: the publisher gives it again with
 * POST /apis/{apiId}/monetize, which reuses the plan copies), and as offering those tiers (so
 * that call keeps them). The rows written are recorded, and `down` removes exactly those.
 */
async function seedAdoptedMonetization(knex: Knex): Promise<void> {
  if (!(await wasAdopted(knex, 'AM_MONETIZATION'))) return;
  const done = new Set((await adoptionsOf(knex, MIGRATION)).filter((e) => e.kind === 'SEEDED').map((e) => e.table));
  const copies = ((await knex('AM_MONETIZATION').whereNotNull('TIER_NAME').distinct('API_ID', 'TIER_NAME')) as Array<Record<string, unknown>>).map(
    (row) => ({ apiId: Number(columnValue(row, 'API_ID')), tier: String(columnValue(row, 'TIER_NAME')) }),
  );
  if (!done.has('ML_API_MONETIZATION')) {
    const saved = new Set(((await knex('ML_API_MONETIZATION').select('API_ID')) as Array<Record<string, unknown>>).map((row) => Number(columnValue(row, 'API_ID'))));
    const apiIds = [...new Set(copies.map((c) => c.apiId))].filter((id) => !saved.has(id)).sort((a, b) => a - b);
    await recordAdoption(knex, { kind: 'SEEDED', table: 'ML_API_MONETIZATION', object: '', migration: MIGRATION, saved: JSON.stringify(apiIds) });
    for (const apiId of apiIds) await knex('ML_API_MONETIZATION').insert({ API_ID: apiId, ENABLED: 1, PROPERTIES: '{}' });
  }
  if (!done.has('ML_API_POLICY')) {
    const offering = new Set(((await knex('ML_API_POLICY').distinct('API_ID')) as Array<Record<string, unknown>>).map((row) => Number(columnValue(row, 'API_ID'))));
    const tiers = copies.filter((c) => !offering.has(c.apiId));
    await recordAdoption(knex, { kind: 'SEEDED', table: 'ML_API_POLICY', object: '', migration: MIGRATION, saved: JSON.stringify(tiers) });
    for (const { apiId, tier } of tiers) await knex('ML_API_POLICY').insert({ API_ID: apiId, POLICY_NAME: tier });
  }
}

async function unseedAdoptedMonetization(knex: Knex): Promise<void> {
  for (const entry of (await adoptionsOf(knex, MIGRATION)).filter((e) => e.kind === 'SEEDED')) {
    if (entry.table === 'ML_API_MONETIZATION') {
      const apiIds = JSON.parse(entry.saved ?? '[]') as number[];
      if (apiIds.length > 0) await knex('ML_API_MONETIZATION').whereIn('API_ID', apiIds).delete();
    } else if (entry.table === 'ML_API_POLICY') {
      for (const { apiId, tier } of JSON.parse(entry.saved ?? '[]') as Array<{ apiId: number; tier: string }>) {
        await knex('ML_API_POLICY').where({ API_ID: apiId, POLICY_NAME: tier }).delete();
      }
    }
    await forgetAdoption(knex, entry);
  }
}

async function recordExistingAccounts(knex: Knex): Promise<void> {
  const rows = (await knex('AM_MONETIZATION_SUBSCRIPTIONS as ms')
    .join('ML_API_MONETIZATION as m', 'm.API_ID', 'ms.SUBSCRIBED_API_ID')
    .leftJoin(`${TABLE} as e`, 'e.ENGINE_SUBSCRIPTION_ID', 'ms.SUBSCRIPTION_ID')
    .whereNull('e.ENGINE_SUBSCRIPTION_ID')
    .select('ms.SUBSCRIPTION_ID', 'm.PROPERTIES')) as Array<Record<string, unknown>>;
  const now = Date.now();
  for (const row of rows) {
    const account = connectedAccountOf(columnValue(row, 'PROPERTIES'));
    if (!account) continue;
    await knex(TABLE).insert({ ENGINE_SUBSCRIPTION_ID: String(columnValue(row, 'SUBSCRIPTION_ID')), ENGINE_ACCOUNT: account, SUBSCRIPTION_UUID: null, CREATED_AT: now });
  }
}

function connectedAccountOf(properties: unknown): string | undefined {
  if (typeof properties !== 'string') return undefined;
  try {
    const account = (JSON.parse(properties) as Record<string, unknown>).ConnectedAccountKey;
    return typeof account === 'string' && account.length > 0 ? account : undefined;
  } catch {
    return undefined;
  }
}
