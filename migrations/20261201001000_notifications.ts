import type { Knex } from 'knex';
import { createOrAttachTables, dropOwnedTables, groupConflicts, type TableGroup, type TableSpec } from './support/table-group';
import type { SchemaConflict } from './support/schema-conflict';

/**
 * Notifications (issue 18, docs/notifications.md):
 * - ML_NOTIFICATION_CHANNEL: a tenant's channels (a signed webhook, a Teams or Slack incoming
 *   webhook, e-mail): where to (TARGET: a URL or an e-mail address list), the webhook's signing
 *   secret (never shown over REST), the event types it gets (EVENTS: a JSON array, or ["*"]).
 * - ML_NOTIFICATION_DELIVERY: the outbox, one row per (channel, event): the event as JSON, where
 *   its delivery stands (PENDING, DELIVERED, FAILED: waiting for its next attempt, DEAD: given up),
 *   and the lease a dispatcher holds while it sends (LEASE_TOKEN, LEASE_UNTIL), so two processes
 *   never send one delivery at once. The unique (CHANNEL_ID, EVENT_ID) makes emitting the same
 *   fact twice record one delivery per channel.
 * No foreign keys, like the billing tables; the repository deletes a channel's deliveries with it.
 * Times are epoch milliseconds in BIGINT columns.
 */
const MIGRATION = '20261201001000_notifications';

const channel: TableSpec = {
  name: 'ML_NOTIFICATION_CHANNEL',
  requiredColumns: [],
  references: [],
  define(t) {
    t.string('ID', 36).notNullable();
    t.string('TENANT_DOMAIN', 100).notNullable();
    t.string('KIND', 20).notNullable();
    t.string('NAME', 255).notNullable();
    t.string('TARGET', 2048).notNullable();
    t.string('SECRET', 255);
    t.string('EVENTS', 2000).notNullable();
    t.boolean('ENABLED').notNullable();
    t.bigInteger('CREATED_AT').notNullable();
    t.bigInteger('UPDATED_AT').notNullable();
    t.primary(['ID'], 'ML_NOTIF_CHANNEL_PK');
    t.unique(['TENANT_DOMAIN', 'NAME'], { indexName: 'ML_NOTIF_CHANNEL_NAME_UK', useConstraint: true });
    t.check("?? in ('webhook', 'teams', 'slack', 'email')", ['KIND'], 'ML_NOTIF_CHANNEL_KIND_CK');
  },
};

const delivery: TableSpec = {
  name: 'ML_NOTIFICATION_DELIVERY',
  requiredColumns: [],
  references: [],
  define(t) {
    t.string('ID', 36).notNullable();
    t.string('CHANNEL_ID', 36).notNullable();
    /** The event's deterministic id (type, tenant, the thing's id, extras). */
    t.string('EVENT_ID', 500).notNullable();
    t.string('EVENT_TYPE', 64).notNullable();
    t.string('TENANT_DOMAIN', 100).notNullable();
    t.text('PAYLOAD').notNullable();
    t.string('STATUS', 20).notNullable();
    t.integer('ATTEMPTS').notNullable();
    t.bigInteger('NEXT_ATTEMPT_AT').notNullable();
    t.string('LAST_ERROR', 1000);
    t.string('LEASE_TOKEN', 36);
    t.bigInteger('LEASE_UNTIL');
    t.bigInteger('CREATED_AT').notNullable();
    t.bigInteger('DELIVERED_AT');
    t.primary(['ID'], 'ML_NOTIF_DELIVERY_PK');
    t.unique(['CHANNEL_ID', 'EVENT_ID'], { indexName: 'ML_NOTIF_DELIVERY_EVENT_UK', useConstraint: true });
    t.check("?? in ('PENDING', 'DELIVERED', 'FAILED', 'DEAD')", ['STATUS'], 'ML_NOTIF_DELIVERY_STATUS_CK');
    t.index(['STATUS', 'NEXT_ATTEMPT_AT'], 'ML_NOTIF_DELIVERY_DUE_IX');
    t.index(['TENANT_DOMAIN', 'CREATED_AT'], 'ML_NOTIF_DELIVERY_TENANT_IX');
  },
};

const group: TableGroup = {
  migration: MIGRATION,
  whenTableExists: 'refuse',
  tables: [channel, delivery],
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
