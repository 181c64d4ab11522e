import { randomBytes } from 'node:crypto';
import Stripe from 'stripe';
import type { Knex } from 'knex';
import { createLogger } from '../../src/logger';
import { startService, type RunningService } from '../../src/service';
import { startStripeServer, type StripeServer } from '../../dev/stripe-server';
import { migrateLatest, rollbackAll } from '../helpers/migrations';
import { forEachTestDatabase, listTables, type TestDatabase } from '../helpers/databases';
import { ADMIN, DEVPORTAL, harnessConfig, policyBody, PUBLISHER, SCOPES } from '../helpers/rest-harness';
import { mintToken } from '../../src/http/auth/tokens';
import {
  createGuideTables,
  createWso2GatewayTables,
  describeColumns,
  describeKeys,
  dropGuideTables,
  GUIDE_TABLES,
  loadWso2ApimgtScript,
  type GuideShape,
  type Wso2Dialect,
} from './wso2-schema';

/**
 * Adopting an existing WSO2 monetization install (issue 15): WSO2 API-M 4.x's own apimgt script,
 * then the tables of WSO2's "Monetizing an API" guide in the plugin 1.5 shape and then the 1.6+
 * shape, with the rows WSO2's Stripe plugin writes for a monetized API with a subscription (and
 * the Stripe objects they name, on the local Stripe server). Migrating keeps WSO2's columns and
 * rows, Meterline reads them through its REST API, and `migrate --down` leaves the database as
 * it found it. One database per dialect: the shapes run one after the other on it (loading
 * WSO2's 247 tables takes about 20 s on MariaDB).
 */
const TENANT_ID = -1234;
const USAGE_ROW = { ID: 'USAGE_PUBLISHER', STATE: 'COMPLETED', STATUS: 'SUCCESSFULL', STARTED_TIME: '1748772000000', PUBLISHED_TIME: '1748775600000' };
/** WSO2's tables the adoption may touch, besides the guide's. */
const WATCHED = ['AM_API', 'AM_APPLICATION', 'AM_SUBSCRIBER', 'AM_SUBSCRIPTION', 'AM_POLICY_SUBSCRIPTION', 'AM_MONETIZATION_USAGE'];
const PUBLISH_SCOPES = ['apim:admin', 'apim:monetization_usage_publish'];

interface Install {
  shape: GuideShape;
  apiUuid: string;
  tier: string;
  subscriptionUuid: string;
  account: string;
  productId: string;
  priceId: string;
  stripeSubscriptionId: string;
  policyUuid: string;
  platformProductId: string;
  platformPriceId: string;
}

interface Snapshot {
  tables: string[];
  columns: Awaited<ReturnType<typeof describeColumns>>;
  keys: string[];
  rows: Record<string, unknown[]>;
}

forEachTestDatabase((kind, db) => {
  if (kind === 'sqlite') {
    // WSO2 ships no SQLite script: the stand-in gateway tables, and the 1.6+ shared-customer table
    // as the guide's MySQL tab makes it, in SQLite's words. What matters here is SQLite's own DDL:
    // adding PARENT_CUSTOMER_ID and a unique index, and taking both off again.
    describe("the guide's 1.6+ shared customers on SQLite", () => {
      const table = 'AM_MONETIZATION_SHARED_CUSTOMERS';
      const schemaOf = async () => (await db().knex.raw("SELECT type, name, sql FROM sqlite_master WHERE tbl_name = ? ORDER BY name", [table])) as unknown[];
      let before: { schema: unknown[]; rows: unknown[] };
      beforeAll(async () => {
        await createWso2GatewayTables(db().knex);
        await db().knex.raw(`CREATE TABLE ${table} (
          ID INTEGER PRIMARY KEY AUTOINCREMENT, APPLICATION_ID INTEGER NOT NULL, API_PROVIDER VARCHAR(256) NOT NULL,
          TENANT_ID INTEGER NOT NULL, SHARED_CUSTOMER_ID VARCHAR(256) NOT NULL,
          FOREIGN KEY (APPLICATION_ID) REFERENCES AM_APPLICATION(APPLICATION_ID) ON DELETE CASCADE)`);
        await db().knex('AM_APPLICATION').insert({ APPLICATION_ID: 3, NAME: 'PizzaApp', SUBSCRIBER_ID: 1, UUID: 'app-uuid' });
        await db().knex(table).insert({ APPLICATION_ID: 3, API_PROVIDER: 'admin', TENANT_ID: TENANT_ID, SHARED_CUSTOMER_ID: 'cus_1' });
        before = { schema: await schemaOf(), rows: await db().knex(table).select() };
        await migrateLatest(db().knex);
      });

      it('keeps the row, with an empty PARENT_CUSTOMER_ID, under a unique index', async () => {
        expect(await db().knex(table).select()).toEqual([{ ...(before.rows[0] as object), PARENT_CUSTOMER_ID: null }]);
        // The outcome of a second row for the same key, with the schema beside it: this check failed
        // rarely (a few runs in seventy, cause not found), and a failure should show the table.
        const second = await db()
          .knex(table)
          .insert({ APPLICATION_ID: 3, API_PROVIDER: 'admin', TENANT_ID: TENANT_ID, SHARED_CUSTOMER_ID: 'cus_2' })
          .then(
            () => 'inserted',
            (error: unknown) => String(error),
          );
        expect({ second, schema: await schemaOf() }).toEqual({ second: expect.stringMatching(/UNIQUE/), schema: expect.anything() });
      });

      it('migrate --down leaves the table as WSO2 made it, row included', async () => {
        await rollbackAll(db().knex);
        expect({ schema: await schemaOf(), rows: await db().knex(table).select() }).toEqual(before);
      });
    });
    return;
  }
  const dialect: Wso2Dialect = kind;
  let stripeServer: StripeServer;
  const run = randomBytes(6).toString('hex');
  const keys = { superKey: `sk_test_adopt_super_${run}`, otherKey: `sk_test_adopt_acme_${run}` };
  let platform: Stripe;

  beforeAll(async () => {
    stripeServer = await startStripeServer({ port: 0 });
    platform = new Stripe(keys.superKey, { host: stripeServer.host, port: stripeServer.port, protocol: 'http', maxNetworkRetries: 0, telemetry: false });
    await loadWso2ApimgtScript(db().knex, dialect);
  }, 120_000);
  afterAll(() => stripeServer?.close());

  for (const shape of ['1.5', '1.6'] as const) {
    describe(`the guide's tables, plugin ${shape} shape`, () => {
      let install: Install;
      let before: Snapshot;
      let afterMigrate: Snapshot;
      let service: RunningService | undefined;
      const watched = [...GUIDE_TABLES[shape], ...WATCHED];

      beforeAll(async () => {
        await createGuideTables(db().knex, dialect, shape);
        install = await seedInstall(db().knex, platform, shape);
        before = await snapshot(db(), dialect, watched);
        await migrateLatest(db().knex);
        afterMigrate = await snapshot(db(), dialect, watched);
        service = await startService({ config: harnessConfig(db(), stripeServer, keys), logger: createLogger('silent'), port: 0 });
      }, 120_000);
      afterAll(async () => {
        await service?.close();
        await dropGuideTables(db().knex, dialect, shape);
      });

      const call = async (method: string, path: string, token: string, body?: unknown) => {
        const response = await fetch(`${service!.url}${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        const text = await response.text();
        return { status: response.status, text, body: text === '' ? undefined : (JSON.parse(text) as any) }; // eslint-disable-line @typescript-eslint/no-explicit-any
      };
      const token = (sub: string, scopes: readonly string[]) =>
        mintToken(harnessConfig(db(), stripeServer, keys).auth.jwt!, { subject: sub, tenant: undefined, scopes, ...(sub === 'sam' ? { email: 'sam@example.com' } : {}) });

      it("keeps every column WSO2's tables had, as they were", () => {
        const added = afterMigrate.columns.filter((c) => !before.columns.some((b) => b.table === c.table && b.column === c.column));
        expect(afterMigrate.columns.filter((c) => before.columns.some((b) => b.table === c.table && b.column === c.column))).toEqual(before.columns);
        // Only the 1.6+ shape lacks a column Meterline writes: a nullable PARENT_CUSTOMER_ID.
        expect(added.map((c) => [c.table, c.column, c.nullable])).toEqual(shape === '1.6' ? [['AM_MONETIZATION_SHARED_CUSTOMERS', 'PARENT_CUSTOMER_ID', 'YES']] : []);
      });

      it("keeps WSO2's rows (the 1.6+ shared customers gain an empty PARENT_CUSTOMER_ID)", () => {
        const shared = afterMigrate.rows.AM_MONETIZATION_SHARED_CUSTOMERS as Array<Record<string, unknown>>;
        const { AM_MONETIZATION_SHARED_CUSTOMERS: _added, ...others } = afterMigrate.rows;
        const { AM_MONETIZATION_SHARED_CUSTOMERS: sharedBefore, ...othersBefore } = before.rows;
        expect(others).toEqual(othersBefore);
        if (shape === '1.5') expect(shared).toEqual(sharedBefore);
        else expect(shared).toEqual((sharedBefore as Array<Record<string, unknown>>).map((row) => ({ ...row, PARENT_CUSTOMER_ID: null })));
      });

      it('records the guide tables as adopted, and as created only the ones the shape lacks', async () => {
        const adopted = (await db().knex('ML_SCHEMA_ADOPTION').where({ KIND: 'TABLE' }).select('TABLE_NAME')) as Array<{ TABLE_NAME: string }>;
        const owned = (await db().knex('ML_SCHEMA_OWNERSHIP').select('TABLE_NAME')) as Array<{ TABLE_NAME: string }>;
        const guide = GUIDE_TABLES[shape].filter((t) => t !== 'AM_STRIPE_CHECKOUT_SESSIONS');
        expect(adopted.map((r) => r.TABLE_NAME)).toEqual(expect.arrayContaining([...guide, 'AM_API', 'AM_MONETIZATION_USAGE']));
        expect(owned.map((r) => r.TABLE_NAME).filter((t) => t.startsWith('AM_'))).toEqual(shape === '1.6' ? ['AM_MONETIZATION_PLATFORM_CUSTOMERS'] : []);
      });

      it('answers enabled, with the plan of each tier, for the API WSO2 monetized', async () => {
        const response = await call('GET', `${PUBLISHER}/apis/${install.apiUuid}/monetization`, token('admin', SCOPES.publisher));
        expect(response.status).toBe(200);
        expect(response.body).toEqual({ enabled: true, properties: { [install.tier]: install.priceId } });
      });

      describe('once the publisher gives the connected account again (WSO2 kept it in the API artifact)', () => {
        beforeAll(async () => {
          const saved = await call('POST', `${PUBLISHER}/apis/${install.apiUuid}/monetize`, token('admin', SCOPES.publisher), {
            enabled: true,
            properties: { ConnectedAccountKey: install.account },
          });
          if (saved.status !== 201) throw new Error(`monetize: ${saved.status} ${saved.text}`);
        });

        it("reuses WSO2's product and plan", async () => {
          const rows = await db().knex('AM_MONETIZATION').select('TIER_NAME', 'STRIPE_PRODUCT_ID', 'STRIPE_PLAN_ID');
          expect(rows).toEqual([{ TIER_NAME: install.tier, STRIPE_PRODUCT_ID: install.productId, STRIPE_PLAN_ID: install.priceId }]);
        });

        it("answers the usage of WSO2's subscription to its publisher and its subscriber", async () => {
          const publisher = await call('GET', `${PUBLISHER}/subscriptions/${install.subscriptionUuid}/usage`, token('admin', SCOPES.publisher));
          expect([publisher.status, publisher.body?.properties?.Currency]).toEqual([200, 'USD']);
          const subscriber = await call('GET', `${DEVPORTAL}/subscriptions/${install.subscriptionUuid}/usage`, token('sam', SCOPES.subscriber));
          expect(subscriber.status).toBe(200);
        });

        it("uses WSO2's plan mapping as the policy's billing plan: saving the policy unchanged makes no new plan", async () => {
          const products = (await platform.products.list({ limit: 100 })).data.length;
          const body = policyBody(install.tier, { plan: 'FIXEDRATE', price: '10', currency: 'USD', cycle: 'month' });
          const saved = await call('PUT', `${ADMIN}/throttling/policies/subscription/${install.policyUuid}`, token('admin', SCOPES.admin), body);
          expect(saved.status).toBe(200);
          expect(await db().knex('AM_POLICY_PLAN_MAPPING').select()).toEqual([
            { POLICY_UUID: install.policyUuid, PRODUCT_ID: install.platformProductId, PLAN_ID: install.platformPriceId },
          ]);
          expect((await platform.products.list({ limit: 100 })).data.length).toBe(products);
        });

        it("bills WSO2's subscription: the usage publisher finds its Stripe subscription and account", async () => {
          expect(await service!.engine.billedSubscriptionOf(install.subscriptionUuid)).toEqual({
            engineSubscriptionId: install.stripeSubscriptionId,
            account: install.account,
          });
        });
      });

      describe('migrate --down', () => {
        let after: Snapshot;
        beforeAll(async () => {
          // The usage publisher rewrites WSO2's AM_MONETIZATION_USAGE row.
          const publish = await call('POST', `${ADMIN}/monetization/publish-usage`, token('admin', PUBLISH_SCOPES));
          if (publish.status !== 202) throw new Error(`publish-usage: ${publish.status} ${publish.text}`);
          await service!.usage.publisher.current();
          const usageRow = await db().knex('AM_MONETIZATION_USAGE').first('STARTED_TIME');
          if (usageRow?.STARTED_TIME === USAGE_ROW.STARTED_TIME) throw new Error('the publisher did not touch AM_MONETIZATION_USAGE');
          await service!.close();
          service = undefined;
          await rollbackAll(db().knex);
          after = await snapshot(db(), dialect, watched);
        }, 60_000);

        it('leaves exactly the tables there were', () => {
          expect(after.tables).toEqual(before.tables);
        });

        it("leaves WSO2's columns, indexes and constraints as they were", () => {
          expect(after.columns).toEqual(before.columns);
          expect(after.keys).toEqual(before.keys);
        });

        it("leaves WSO2's rows as they were, AM_MONETIZATION_USAGE's included", () => {
          expect(after.rows).toEqual(before.rows);
          expect(after.rows.AM_MONETIZATION_USAGE).toEqual([USAGE_ROW]);
        });
      });
    });
  }
});

/**
 * The Stripe objects and WSO2 rows of a monetized install, written as WSO2 and its plugin write
 * them: a subscriber with an application subscribed on a COMMERCIAL FIXEDRATE tier to a published
 * API monetized with a connected account; the tier's platform plan (AM_POLICY_PLAN_MAPPING), the
 * API's plan copy (AM_MONETIZATION), the customers and the subscription; a usage-publisher row.
 */
async function seedInstall(knex: Knex, platform: Stripe, shape: GuideShape): Promise<Install> {
  const tag = shape.replace('.', '');
  const tier = `Gold${tag}`;
  const account = (await platform.accounts.create({ type: 'express', country: 'US', business_profile: { name: 'Publisher Inc' } })).id;
  const recurring = { interval: 'month', usage_type: 'licensed' } as const;
  const platformProduct = await platform.products.create({ name: `carbon.super-${tier}` });
  const platformPrice = await platform.prices.create({ product: platformProduct.id, currency: 'usd', unit_amount: 1000, recurring, nickname: tier });
  const product = await platform.products.create({ name: `PizzaShackAPI${tag}-1.0.0-admin` }, { stripeAccount: account });
  const price = await platform.prices.create({ product: product.id, currency: 'usd', unit_amount: 1000, recurring, nickname: tier }, { stripeAccount: account });
  const shared = await platform.customers.create({ email: 'sam@example.com', description: 'Shared Customer for PizzaApp/sam', payment_method: 'pm_card_visa' }, { stripeAccount: account });
  const [card] = (await platform.paymentMethods.list({ customer: shared.id }, { stripeAccount: account })).data;
  const subscription = await platform.subscriptions.create({ customer: shared.id, items: [{ price: price.id }], default_payment_method: card!.id }, { stripeAccount: account });

  const now = '2025-06-01 10:00:00';
  const userId = 'sam';
  if (!(await knex('AM_SUBSCRIBER').where({ USER_ID: userId, TENANT_ID }).first('SUBSCRIBER_ID'))) {
    await knex('AM_SUBSCRIBER').insert({ USER_ID: userId, TENANT_ID, EMAIL_ADDRESS: 'sam@example.com', DATE_SUBSCRIBED: now, CREATED_BY: userId, CREATED_TIME: now });
  }
  const subscriberId = Number((await knex('AM_SUBSCRIBER').where({ USER_ID: userId, TENANT_ID }).first('SUBSCRIBER_ID')).SUBSCRIBER_ID);
  const appUuid = `8a3c1f0e-0000-4000-8000-00000000a${tag}`;
  await knex('AM_APPLICATION').insert({
    NAME: `PizzaApp${tag}`,
    SUBSCRIBER_ID: subscriberId,
    APPLICATION_TIER: 'Unlimited',
    APPLICATION_STATUS: 'APPROVED',
    CREATED_BY: userId,
    CREATED_TIME: now,
    UUID: appUuid,
    TOKEN_TYPE: 'JWT',
    ORGANIZATION: 'carbon.super',
  });
  const applicationId = Number((await knex('AM_APPLICATION').where({ UUID: appUuid }).first('APPLICATION_ID')).APPLICATION_ID);
  const apiUuid = `5b1e2d3c-0000-4000-8000-00000000b${tag}`;
  await knex('AM_API').insert({
    API_UUID: apiUuid,
    API_PROVIDER: 'admin',
    API_NAME: `PizzaShackAPI${tag}`,
    API_VERSION: '1.0.0',
    CONTEXT: `/pizzashack${tag}/1.0.0`,
    CONTEXT_TEMPLATE: `/pizzashack${tag}/{version}`,
    API_TYPE: 'HTTP',
    ORGANIZATION: 'carbon.super',
    CREATED_BY: 'admin',
    CREATED_TIME: now,
    STATUS: 'PUBLISHED',
    VERSION_COMPARABLE: '1748772000000', // WSO2's version timestamp: epoch ms (the creation time, `now`)
    API_DISPLAY_NAME: `PizzaShackAPI${tag}`,
  });
  const apiId = Number((await knex('AM_API').where({ API_UUID: apiUuid }).first('API_ID')).API_ID);
  const policyUuid = `c0ffee00-0000-4000-8000-00000000c${tag}`;
  await knex('AM_POLICY_SUBSCRIPTION').insert({
    NAME: tier,
    DISPLAY_NAME: tier,
    TENANT_ID,
    DESCRIPTION: `${tier} plan`,
    QUOTA_TYPE: 'requestCount',
    QUOTA: 1000,
    UNIT_TIME: 1,
    TIME_UNIT: 'min',
    IS_DEPLOYED: true,
    STOP_ON_QUOTA_REACH: true,
    BILLING_PLAN: 'COMMERCIAL',
    UUID: policyUuid,
    MONETIZATION_PLAN: 'FIXEDRATE',
    FIXED_RATE: '10',
    BILLING_CYCLE: 'month',
    CURRENCY: 'USD',
  });
  const subscriptionUuid = `d00dfeed-0000-4000-8000-00000000d${tag}`;
  await knex('AM_SUBSCRIPTION').insert({
    TIER_ID: tier,
    API_ID: apiId,
    APPLICATION_ID: applicationId,
    SUB_STATUS: 'UNBLOCKED',
    SUBS_CREATE_STATE: 'SUBSCRIBE',
    CREATED_BY: userId,
    CREATED_TIME: now,
    UUID: subscriptionUuid,
  });
  await knex('AM_MONETIZATION').insert({ API_ID: apiId, TIER_NAME: tier, STRIPE_PRODUCT_ID: product.id, STRIPE_PLAN_ID: price.id });
  await knex('AM_POLICY_PLAN_MAPPING').insert({ POLICY_UUID: policyUuid, PRODUCT_ID: platformProduct.id, PLAN_ID: platformPrice.id });
  let parent: Record<string, number> = {};
  if (shape === '1.5') {
    const platformCustomer = await platform.customers.create({ email: 'sam@example.com', description: 'Customer for sam' });
    await knex('AM_MONETIZATION_PLATFORM_CUSTOMERS').insert({ SUBSCRIBER_ID: subscriberId, TENANT_ID, CUSTOMER_ID: platformCustomer.id });
    parent = { PARENT_CUSTOMER_ID: Number((await knex('AM_MONETIZATION_PLATFORM_CUSTOMERS').where({ CUSTOMER_ID: platformCustomer.id }).first('ID')).ID) };
  } else {
    await knex('AM_STRIPE_CHECKOUT_SESSIONS').insert({
      SESSION_ID: `cs_test_${tag}`,
      WORKFLOW_REFERENCE: subscriptionUuid,
      SUBSCRIBER_ID: subscriberId,
      TENANT_ID,
      API_UUID: apiUuid,
      CHECKOUT_URL: `https://checkout.stripe.com/c/pay/cs_test_${tag}`,
      STATUS: 'COMPLETED',
      CREATED_AT: now,
      UPDATED_AT: now,
    });
  }
  await knex('AM_MONETIZATION_SHARED_CUSTOMERS').insert({ APPLICATION_ID: applicationId, API_PROVIDER: 'admin', TENANT_ID, SHARED_CUSTOMER_ID: shared.id, ...parent });
  const sharedRowId = Number((await knex('AM_MONETIZATION_SHARED_CUSTOMERS').where({ SHARED_CUSTOMER_ID: shared.id }).first('ID')).ID);
  await knex('AM_MONETIZATION_SUBSCRIPTIONS').insert({
    SUBSCRIBED_APPLICATION_ID: applicationId,
    SUBSCRIBED_API_ID: apiId,
    TENANT_ID,
    SUBSCRIPTION_ID: subscription.id,
    SHARED_CUSTOMER_ID: sharedRowId,
  });
  await knex('AM_MONETIZATION_USAGE').delete();
  await knex('AM_MONETIZATION_USAGE').insert(USAGE_ROW);
  return { shape, apiUuid, tier, subscriptionUuid, account, productId: product.id, priceId: price.id, stripeSubscriptionId: subscription.id, policyUuid, platformProductId: platformProduct.id, platformPriceId: platformPrice.id };
}

async function snapshot(db: TestDatabase, dialect: Wso2Dialect, tables: readonly string[]): Promise<Snapshot> {
  const rows: Record<string, unknown[]> = {};
  for (const table of tables) rows[table] = await db.knex(table).select().orderByRaw('1');
  return {
    tables: (await listTables(db)).filter((t) => !/^ml_migrations/i.test(t)),
    columns: await describeColumns(db.knex, dialect, tables),
    keys: await describeKeys(db.knex, dialect, tables),
    rows,
  };
}
