import type { Knex } from 'knex';
import { down, up } from '../../migrations/20261130000000_usage_event_per_tenant';
import { migrateLatest, rollbackAll } from '../helpers/migrations';
import { forEachTestDatabase } from '../helpers/databases';
import { violationOf } from './fixtures';

/** Migration 20261130000000_usage_event_per_tenant on a real database: keys and column, up and down. */
const event = (tenant: string, id: string, batch?: string) => ({
  EVENT_ID: id,
  EVENT_TIME: 1_736_935_200_000,
  EVENT_HOUR: 482_482,
  API_UUID: 'api',
  APPLICATION_UUID: 'app',
  TENANT_DOMAIN: tenant,
  HTTP_STATUS: 200,
  QUANTITY: 1,
  RECEIVED_AT: 1_736_935_200_000,
  PUBLISH_STATE: 0,
  ...(batch === undefined ? {} : { INGEST_BATCH: batch }),
});

forEachTestDatabase((kind, db) => {
  const knex = (): Knex => db().knex;

  beforeAll(async () => {
    await migrateLatest(knex());
  });
  afterEach(async () => {
    await knex()('ML_USAGE_EVENT').delete();
  });
  afterAll(async () => {
    await rollbackAll(knex());
  });

  it('keeps one event id per tenant: the same id in two tenants is two rows, twice in one tenant is refused', async () => {
    await knex()('ML_USAGE_EVENT').insert([event('carbon.super', 'evt-1', 'batch-a'), event('acme.com', 'evt-1', 'batch-b')]);
    expect(await violationOf(kind, knex()('ML_USAGE_EVENT').insert(event('acme.com', 'evt-1')))).toBe('unique');
    const rows = await knex()('ML_USAGE_EVENT').orderBy('TENANT_DOMAIN').select('TENANT_DOMAIN', 'INGEST_BATCH');
    expect(rows).toEqual([
      { TENANT_DOMAIN: 'acme.com', INGEST_BATCH: 'batch-b' },
      { TENANT_DOMAIN: 'carbon.super', INGEST_BATCH: 'batch-a' },
    ]);
  });

  it('rolls back to one key on EVENT_ID without INGEST_BATCH, and forward again', async () => {
    await knex()('ML_USAGE_EVENT').insert(event('carbon.super', 'evt-2', 'batch-a'));
    await down(knex());
    expect(Object.keys(await knex()('ML_USAGE_EVENT').columnInfo()).map((c) => c.toUpperCase())).not.toContain('INGEST_BATCH');
    expect(await violationOf(kind, knex()('ML_USAGE_EVENT').insert(event('acme.com', 'evt-2')))).toBe('unique');
    await up(knex());
    await knex()('ML_USAGE_EVENT').insert(event('acme.com', 'evt-2', 'batch-b'));
    expect(Number((await knex()('ML_USAGE_EVENT').where({ EVENT_ID: 'evt-2' }).count({ N: '*' }).first())?.N)).toBe(2);
  });

  it('refuses to roll back, changing nothing, while an event id is stored for two tenants', async () => {
    await knex()('ML_USAGE_EVENT').insert([event('carbon.super', 'evt-3'), event('acme.com', 'evt-3')]);
    await expect(down(knex())).rejects.toThrow(/event ids are stored for more than one tenant \("evt-3"\)/);
    expect(Object.keys(await knex()('ML_USAGE_EVENT').columnInfo()).map((c) => c.toUpperCase())).toContain('INGEST_BATCH');
    expect(Number((await knex()('ML_USAGE_EVENT').count({ N: '*' }).first())?.N)).toBe(2);
  });
});
