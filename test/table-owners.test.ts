import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * One owner per table (issue 13): each table has one module that reads and writes it; every other
 * module asks that module. docs/architecture.md lists the same owners.
 */
const ROOT = path.resolve(__dirname, '..');

export const tableOwners: Readonly<Record<string, string>> = {
  // The API-Manager core (WSO2's gateway tables and Meterline's additions to them).
  AM_API: 'src/apim/apis.repository.ts',
  ML_API_POLICY: 'src/apim/apis.repository.ts',
  AM_APPLICATION: 'src/apim/applications.repository.ts',
  AM_SUBSCRIBER: 'src/apim/subscribers.repository.ts',
  AM_SUBSCRIPTION: 'src/apim/subscriptions.repository.ts',
  AM_POLICY_SUBSCRIPTION: 'src/apim/policies.repository.ts',
  ML_POLICY_PRICING: 'src/apim/policies.repository.ts',
  ML_API_MONETIZATION: 'src/apim/api-monetization.repository.ts',
  // Billing records.
  ML_INVOICE: 'src/billing/billing.repository.ts',
  ML_SUBSCRIPTION_BILLING: 'src/billing/billing.repository.ts',
  ML_WEBHOOK_EVENT: 'src/billing/billing.repository.ts',
  // Meterline's own invoices (engines that only collect payment).
  ML_OWN_INVOICE: 'src/invoicing/own-invoices.repository.ts',
  ML_OWN_INVOICE_LINE: 'src/invoicing/own-invoices.repository.ts',
  ML_OWN_INVOICE_USAGE: 'src/invoicing/own-invoices.repository.ts',
  // Notifications: the tenants' channels and the outbox of deliveries.
  ML_NOTIFICATION_CHANNEL: 'src/notifications/notifications.repository.ts',
  ML_NOTIFICATION_DELIVERY: 'src/notifications/notifications.repository.ts',
  // Spend limits per subscription.
  ML_SPEND_LIMIT: 'src/spend/spend.repository.ts',
  ML_SPEND_STATE: 'src/spend/spend.repository.ts',
  // Usage.
  ML_USAGE_EVENT: 'src/usage/event-store.ts',
  ML_USAGE_RECORD: 'src/usage/record-store.ts',
  ML_USAGE_BILLING_CYCLE: 'src/usage/billing-cycles.ts',
  ML_USAGE_PUBLISH_JOB: 'src/usage/job-store.ts',
  AM_MONETIZATION_USAGE: 'src/usage/job-store.ts',
  ML_USAGE_SOURCE_POSITION: 'src/usage/source-positions.ts',
  // The Stripe engine's own records (WSO2's monetization tables and the account of each subscription).
  AM_MONETIZATION: 'plugins/stripe/stripe.repository.ts',
  AM_POLICY_PLAN_MAPPING: 'plugins/stripe/stripe.repository.ts',
  AM_MONETIZATION_PLATFORM_CUSTOMERS: 'plugins/stripe/stripe.repository.ts',
  AM_MONETIZATION_SHARED_CUSTOMERS: 'plugins/stripe/stripe.repository.ts',
  AM_MONETIZATION_SUBSCRIPTIONS: 'plugins/stripe/stripe.repository.ts',
  ML_ENGINE_SUBSCRIPTION: 'plugins/stripe/stripe.repository.ts',
  // The MyFatoorah engine's own records (the tiers an API bills, its subscriptions, the invoices it submitted).
  ML_MYFATOORAH_API_PLAN: 'plugins/myfatoorah/myfatoorah.repository.ts',
  ML_MYFATOORAH_SUBSCRIPTION: 'plugins/myfatoorah/myfatoorah.repository.ts',
  ML_MYFATOORAH_INVOICE: 'plugins/myfatoorah/myfatoorah.repository.ts',
  ML_MYFATOORAH_SEND: 'plugins/myfatoorah/myfatoorah.repository.ts',
  // The HTTP integration engine's own records (plan codes, tiers, subscriptions, its delivery log and outbox, invoices reported).
  ML_INTEGRATION_PLAN: 'plugins/http-integration/http-integration.repository.ts',
  ML_INTEGRATION_API_TIER: 'plugins/http-integration/http-integration.repository.ts',
  ML_INTEGRATION_SUBSCRIPTION: 'plugins/http-integration/http-integration.repository.ts',
  ML_INTEGRATION_DELIVERY: 'plugins/http-integration/http-integration.repository.ts',
  ML_INTEGRATION_INVOICE: 'plugins/http-integration/http-integration.repository.ts',
  // The schema's own bookkeeping.
  ML_MIGRATIONS: 'src/db/migrator.ts',
  ML_SCHEMA_OWNERSHIP: 'migrations/support/ownership.ts',
  ML_SCHEMA_ADOPTION: 'migrations/support/adoption.ts',
};

/**
 * Reads of another table by a module of the same part (joins inside src/apim) that the target
 * design wants gone: each is accepted until it is gone, then the test asks to delete it.
 */
const knownReads: readonly { file: string; table: string; until: string }[] = [];

function filesUnder(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const relative = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return filesUnder(relative);
    return entry.name.endsWith('.ts') ? [relative] : [];
  });
}

/** Table names in the string literals of a source (comments dropped), e.g. 'AM_API as a' or 'AM_API.API_ID'. */
export function tablesNamedIn(source: string): Set<string> {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  const tables = new Set<string>();
  for (const literal of code.match(/'[^'\n]*'|"[^"\n]*"|`[^`]*`/g) ?? []) {
    for (const name of literal.match(/\b(?:AM|ML)_[A-Z0-9_]+\b/g) ?? []) if (name in tableOwners) tables.add(name);
  }
  return tables;
}

/**
 * Migrations are the schema's history, not its owners' code: they create the tables (with foreign
 * keys to the core's) and may backfill from what existed when they ran, so they are not checked here.
 */
const isMigration = (file: string): boolean => /^plugins\/[^/]+\/migrations\//.test(file);

function engineMigrationFolders(): string[] {
  return readdirSync(path.join(ROOT, 'plugins'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => `plugins/${entry.name}/migrations`)
    .filter((folder) => existsSync(path.join(ROOT, folder)));
}

function uses(): Array<{ file: string; table: string }> {
  return [...filesUnder('src'), ...filesUnder('plugins').filter((file) => !isMigration(file))].flatMap((file) =>
    [...tablesNamedIn(readFileSync(path.join(ROOT, file), 'utf8'))].map((table) => ({ file, table })),
  );
}

describe('one owner per table', () => {
  it("every table the migrations create (the core's and the engines') has an owner", () => {
    const created = new Set<string>();
    for (const file of ['migrations', ...engineMigrationFolders()].flatMap(filesUnder)) {
      const source = readFileSync(path.join(ROOT, file), 'utf8');
      for (const match of source.matchAll(/(?:name:|TABLE =) '((?:AM|ML)_[A-Z0-9_]+)'/g)) created.add(match[1]!);
    }
    expect(created.size).toBeGreaterThan(15);
    expect([...created].filter((table) => !(table in tableOwners))).toEqual([]);
  });

  it('finds table names in string literals, not in comments', () => {
    expect(tablesNamedIn("db('AM_API as a').join(`AM_SUBSCRIPTION as s`) // 'ML_INVOICE'\n/* 'ML_USAGE_EVENT' */ x('AM_POLICY_SUBSCRIPTION.NAME')")).toEqual(
      new Set(['AM_API', 'AM_SUBSCRIPTION', 'AM_POLICY_SUBSCRIPTION']),
    );
  });

  it('only its owner names a table under src/ and plugins/ (other modules ask the owner)', () => {
    const known = (u: { file: string; table: string }) => knownReads.some((k) => k.file === u.file && k.table === u.table);
    const found = uses();
    expect(found.length).toBeGreaterThan(20);
    expect(found.filter((u) => tableOwners[u.table] !== u.file && !known(u)).map((u) => `${u.file} names ${u.table}, owned by ${tableOwners[u.table]}`)).toEqual([]);
  });

  it('every known read still happens (a fixed one is deleted from the list)', () => {
    const found = uses();
    expect(knownReads.filter((k) => !found.some((u) => u.file === k.file && u.table === k.table)).map((k) => `${k.file} no longer names ${k.table}: delete it from knownReads`)).toEqual([]);
  });

  it('engines reach the core only through the ports of EngineDependencies (no core table in plugins/)', () => {
    const core = Object.entries(tableOwners).filter(([, owner]) => owner.startsWith('src/')).map(([table]) => table);
    expect(uses().filter((u) => u.file.startsWith('plugins/') && core.includes(u.table))).toEqual([]);
  });
});
