import type { Knex } from 'knex';
import { identityPrimaryKey } from '../src/db/dialect';
import { createOrAttachTables, dropOwnedTables, groupConflicts, type TableGroup, type TableSpec } from './support/table-group';
import type { SchemaConflict } from './support/schema-conflict';

/**
 * The usage publisher's tables (see docs/usage.md):
 * - ML_USAGE_EVENT: every request event captured or ingested, deduplicated by EVENT_ID, with its
 *   billability decided at ingestion. Rows are never updated: freezing reads them by SEQ range;
 * - ML_USAGE_RECORD: what is (to be) sent to the billing engine: one subscription, one meter, one
 *   window, a frozen quantity and the identifier that makes re-sending harmless;
 * - ML_USAGE_PUBLISH_JOB: the publisher's lease and progress (WSO2's AM_MONETIZATION_USAGE row is
 *   kept in step for clients that read it);
 * - ML_USAGE_BILLING_CYCLE: each subscription's billing-cycle anchor, read once from the engine,
 *   so windows can be split at period boundaries;
 * - ML_USAGE_SOURCE_POSITION: how far the publisher has frozen each usage source (for the local
 *   event store: the highest ML_USAGE_EVENT.SEQ already in a record).
 * Times are epoch milliseconds in BIGINT columns: the same on all five databases, no zone games.
 * No foreign keys: usage is evidence and outlives the subscriptions and APIs it names.
 */
const MIGRATION = '20250801000000_usage_tables';

const usageEvent: TableSpec = {
  name: 'ML_USAGE_EVENT',
  requiredColumns: [],
  references: [],
  define(t, { dialect }) {
    identityPrimaryKey(t, dialect, 'SEQ', 'ML_USAGE_EVENT_PK');
    t.string('EVENT_ID', 128).notNullable();
    t.bigInteger('EVENT_TIME').notNullable();
    /** floor(EVENT_TIME / 3,600,000): the UTC hour windows are grouped by. */
    t.integer('EVENT_HOUR').notNullable();
    t.string('API_UUID', 256).notNullable();
    t.string('APPLICATION_UUID', 256).notNullable();
    /** AM_SUBSCRIPTION.UUID when the event matched a subscription. */
    t.string('SUBSCRIPTION_UUID', 256);
    t.string('CONSUMER_KEY', 256);
    t.string('TENANT_DOMAIN', 100).notNullable();
    t.integer('HTTP_STATUS').notNullable();
    /** Calls this row stands for: 1 for a request event, a count for usage imported from analytics. */
    t.integer('QUANTITY').notNullable();
    t.bigInteger('RECEIVED_AT').notNullable();
    /** 1 billable, 0 not billable (decided at ingestion, never changed). */
    t.smallint('PUBLISH_STATE').notNullable();
    /** Why a stored event is not billed (UNSUCCESSFUL_CALL, UNKNOWN_SUBSCRIPTION, ...). */
    t.string('NOT_BILLABLE', 40);
    t.unique(['EVENT_ID'], { indexName: 'ML_USAGE_EVENT_ID_UK', useConstraint: true });
    t.check('?? in (0, 1)', ['PUBLISH_STATE'], 'ML_USAGE_EVENT_STATE_CK');
    // No other index: freezing reads a SEQ range of the primary key, and every index slows ingestion.
  },
};

const usageRecord: TableSpec = {
  name: 'ML_USAGE_RECORD',
  requiredColumns: [],
  references: [],
  define(t, { dialect }) {
    identityPrimaryKey(t, dialect, 'RECORD_ID', 'ML_USAGE_RECORD_PK');
    t.string('SUBSCRIPTION_UUID', 256).notNullable();
    /** The API whose meter counts the usage (one meter per API). */
    t.string('API_UUID', 256).notNullable();
    t.bigInteger('WINDOW_START').notNullable();
    t.bigInteger('WINDOW_END').notNullable();
    /**
     * The smallest ML_USAGE_EVENT.SEQ frozen into the record (another source's part number):
     * tells apart records of one window.
     */
    t.integer('FIRST_EVENT_SEQ').notNullable();
    t.integer('FREEZE_BATCH').notNullable();
    /** The usage source read (`local`: the events table). */
    t.string('SOURCE', 40).notNullable();
    /**
     * The freeze batch's source range (POSITION_AFTER, POSITION_UP_TO]: the record holds its
     * subscription's billable events of that range inside its window.
     */
    t.bigInteger('POSITION_AFTER').notNullable();
    t.bigInteger('POSITION_UP_TO').notNullable();
    t.integer('QUANTITY').notNullable();
    /** Sent as the meter event's identifier and idempotency key; at most 100 characters (Stripe). */
    t.string('IDENTIFIER', 100).notNullable();
    /** PENDING, SENT, NOT_BILLED, EXPIRED, UNCERTAIN (see docs/usage.md). */
    t.string('STATE', 20).notNullable();
    t.integer('ATTEMPTS').notNullable();
    t.bigInteger('CREATED_AT').notNullable();
    t.bigInteger('FIRST_ATTEMPT_AT');
    t.bigInteger('SENT_AT');
    t.string('LAST_ERROR', 1000);
    t.unique(['IDENTIFIER'], { indexName: 'ML_USAGE_RECORD_IDENT_UK', useConstraint: true });
    t.index(['STATE', 'SUBSCRIPTION_UUID', 'WINDOW_START'], 'ML_USAGE_RECORD_STATE_IX');
  },
};

const publishJob: TableSpec = {
  name: 'ML_USAGE_PUBLISH_JOB',
  requiredColumns: [],
  references: [],
  define(t) {
    t.string('ID', 100).notNullable();
    /** The process holding the lease, or NULL when no job runs. */
    t.string('OWNER', 200);
    t.bigInteger('LEASE_UNTIL');
    t.string('RUN_ID', 64);
    t.string('PHASE', 20).notNullable();
    t.string('OUTCOME', 20);
    t.bigInteger('STARTED_AT');
    t.bigInteger('FINISHED_AT');
    t.bigInteger('CUTOFF');
    t.integer('SUBS_TOTAL').notNullable();
    t.integer('SUBS_DONE').notNullable();
    t.integer('SUBS_FAILED').notNullable();
    t.integer('RECORDS_SENT').notNullable();
    t.bigInteger('EVENTS_PUBLISHED').notNullable();
    /** The last freeze batch number handed out (ML_USAGE_EVENT.FREEZE_BATCH). */
    t.integer('LAST_BATCH').notNullable();
    /** JSON array of { subscription, reason } for the current or last run. */
    t.text('FAILURES');
    t.primary(['ID'], 'ML_USAGE_PUBLISH_JOB_PK');
  },
};

const billingCycle: TableSpec = {
  name: 'ML_USAGE_BILLING_CYCLE',
  requiredColumns: [],
  references: [],
  define(t) {
    t.string('SUBSCRIPTION_UUID', 256).notNullable();
    t.bigInteger('ANCHOR_MS').notNullable();
    t.string('INTERVAL_UNIT', 10).notNullable();
    t.integer('INTERVAL_COUNT').notNullable();
    t.bigInteger('FETCHED_AT').notNullable();
    t.primary(['SUBSCRIPTION_UUID'], 'ML_USAGE_BILLING_CYCLE_PK');
  },
};

const sourcePosition: TableSpec = {
  name: 'ML_USAGE_SOURCE_POSITION',
  requiredColumns: [],
  references: [],
  define(t) {
    /** The source's configured name (`[apim.monetization.usage_publisher] source`). */
    t.string('SOURCE', 40).notNullable();
    /** Everything up to here is in records; moved in the transaction that inserts them. */
    t.bigInteger('POSITION').notNullable();
    t.bigInteger('UPDATED_AT').notNullable();
    t.primary(['SOURCE'], 'ML_USAGE_SOURCE_POSITION_PK');
  },
};

const group: TableGroup = {
  migration: MIGRATION,
  whenTableExists: 'refuse',
  tables: [usageEvent, usageRecord, publishJob, billingCycle, sourcePosition],
};

export const tables: readonly TableSpec[] = group.tables;

export function conflicts(knex: Knex): Promise<SchemaConflict[]> {
  return groupConflicts(knex, group);
}

export async function up(knex: Knex): Promise<void> {
  await createOrAttachTables(knex, group);
}

export async function down(knex: Knex): Promise<void> {
  await dropOwnedTables(knex, group);
}
