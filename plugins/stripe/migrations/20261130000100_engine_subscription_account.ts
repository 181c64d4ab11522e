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
 * WSO2 keeps whether an API is monetized in its API artifact, not in its database; what its
 * database shows is the API's plan copies in AM_MONETIZATION (WSO2's plugin writes them when
 * monetization is enabled and deletes them when it is disabled). When AM_MONETIZATION was adopted
 * (support/adoption.ts), each API with a plan copy and no saved monetization state is recorded
 * as monetized, with no properties: its ConnectedAccountKey lives in WSO2's artifact, and the
 * publisher gives it again (POST /apis/{apiId}/monetize, which reuses the existing plan copies).
 * The APIs seeded are recorded, and `down` removes exactly those rows.
 */
async function seedAdoptedMonetization(knex: Knex): Promise<void> {
  if (!(await wasAdopted(knex, 'AM_MONETIZATION'))) return;
  if ((await adoptionsOf(knex, MIGRATION)).some((e) => e.kind === 'SEEDED')) return;
  const rows = (await knex('AM_MONETIZATION as m')
    .leftJoin('ML_API_MONETIZATION as s', 's.API_ID', 'm.API_ID')
    .whereNull('s.API_ID')
    .whereNotNull('m.TIER_NAME')
    .distinct('m.API_ID')) as Array<Record<string, unknown>>;
  const apiIds = rows.map((row) => Number(columnValue(row, 'API_ID'))).sort((a, b) => a - b);
  await recordAdoption(knex, { kind: 'SEEDED', table: 'ML_API_MONETIZATION', object: '', migration: MIGRATION, saved: JSON.stringify(apiIds) });
  for (const apiId of apiIds) await knex('ML_API_MONETIZATION').insert({ API_ID: apiId, ENABLED: 1, PROPERTIES: '{}' });
}

async function unseedAdoptedMonetization(knex: Knex): Promise<void> {
  const entry = (await adoptionsOf(knex, MIGRATION)).find((e) => e.kind === 'SEEDED');
  if (entry === undefined) return;
  const apiIds = JSON.parse(entry.saved ?? '[]') as number[];
  if (apiIds.length > 0) await knex('ML_API_MONETIZATION').whereIn('API_ID', apiIds).delete();
  await forgetAdoption(knex, entry);
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
