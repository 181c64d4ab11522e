import { randomUUID } from 'node:crypto';
import { migrateLatest } from '../helpers/migrations';
import { forEachTestDatabase } from '../helpers/databases';
import { RECORD_TABLE, RecordStore, resendIdentifier, type NewRecord } from '../../src/usage/record-store';

/**
 * Re-queuing a usage record the engine reported it could not bill (ENGINE_ERROR), at the record
 * store: it goes back to PENDING under a new identifier (the engine keeps the refused one, and would
 * drop a re-send under it as a duplicate), exactly once however many ask at the same time, and an
 * error report that arrives again (for the old identifier) is recognised as already noted and never
 * marks the re-queued record, so it cannot be sent a third time.
 */
forEachTestDatabase((_kind, database) => {
  let store: RecordStore;
  beforeAll(async () => {
    await migrateLatest(database().knex);
    store = new RecordStore(database().knex);
  });

  /** One SENT record of a fresh subscription, as the publisher leaves it after a send. */
  async function sentRecord(): Promise<{ id: number; identifier: string; subscriptionUuid: string }> {
    const subscriptionUuid = randomUUID();
    const identifier = `mlu_${subscriptionUuid}_test_1`;
    const record: NewRecord = {
      subscriptionUuid,
      apiUuid: randomUUID(),
      windowStart: 1_700_000_000_000,
      windowEnd: 1_700_003_600_000,
      firstEventSeq: 1,
      freezeBatch: 1,
      source: 'rest',
      positionAfter: 0,
      positionUpTo: 1,
      quantity: 7,
      identifier,
      createdAt: 1_700_003_600_000,
    };
    const knex = database().knex;
    await store.insert(knex, [record]);
    const [row] = await knex(RECORD_TABLE).where({ SUBSCRIPTION_UUID: subscriptionUuid });
    const id = Number(row.RECORD_ID);
    await store.noteAttempt((await store.list({ subscriptionUuid }))[0]!, 1_700_003_700_000);
    await store.markSent(knex, id, 1_700_003_700_000);
    return { id, identifier, subscriptionUuid };
  }

  const only = async (subscriptionUuid: string) => (await store.list({ subscriptionUuid }))[0]!;

  it('puts an ENGINE_ERROR record back to PENDING under a new identifier, once', async () => {
    const { id, identifier, subscriptionUuid } = await sentRecord();
    expect(await store.markEngineError(identifier, 'archived_meter: the meter is inactive')).toBe('recorded');

    const requeued = await store.requeueEngineError(id);
    const next = resendIdentifier(identifier);
    expect(next).not.toBe(identifier);
    expect(next.length).toBeLessThanOrEqual(100);
    expect(next).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(requeued).toEqual({ outcome: 'requeued', record: expect.objectContaining({ id, state: 'PENDING', identifier: next, attempts: 0, sentAt: null, firstAttemptAt: null }) });
    expect(await only(subscriptionUuid)).toMatchObject({ state: 'PENDING', identifier: next, quantity: 7 });
    expect(await store.pending()).toEqual(expect.arrayContaining([expect.objectContaining({ id, identifier: next })]));

    // Asked again (a second click, a retried request): the record is no longer ENGINE_ERROR.
    expect(await store.requeueEngineError(id)).toEqual({ outcome: 'wrong_state', state: 'PENDING' });
    expect((await only(subscriptionUuid)).identifier).toBe(next);
  });

  it('re-queues exactly once when asked concurrently', async () => {
    const { id, identifier, subscriptionUuid } = await sentRecord();
    await store.markEngineError(identifier, 'no_customer');
    const outcomes = await Promise.all(Array.from({ length: 4 }, () => store.requeueEngineError(id)));
    expect(outcomes.filter((o) => o.outcome === 'requeued')).toHaveLength(1);
    expect(outcomes.filter((o) => o.outcome === 'wrong_state')).toHaveLength(3);
    expect(await only(subscriptionUuid)).toMatchObject({ state: 'PENDING', identifier: resendIdentifier(identifier) });
  });

  it('refuses a record that is not ENGINE_ERROR, and an unknown id', async () => {
    const { id } = await sentRecord();
    expect(await store.requeueEngineError(id)).toEqual({ outcome: 'wrong_state', state: 'SENT' });
    expect(await store.requeueEngineError(2_000_000_000)).toEqual({ outcome: 'not_found' });
  });

  it('recognises an error report that arrives again, before and after the re-queue, without touching the re-queued record', async () => {
    const { id, identifier, subscriptionUuid } = await sentRecord();
    expect(await store.markEngineError(identifier, 'archived_meter')).toBe('recorded');
    expect(await store.markEngineError(identifier, 'archived_meter')).toBe('already_recorded');
    await store.requeueEngineError(id);
    const next = resendIdentifier(identifier);

    // The old report again, while the record waits to be sent and after it was sent: a duplicate.
    expect(await store.markEngineError(identifier, 'archived_meter')).toBe('already_recorded');
    expect(await only(subscriptionUuid)).toMatchObject({ state: 'PENDING', identifier: next });
    await store.markSent(database().knex, id, 1_700_010_000_000);
    expect(await store.markEngineError(identifier, 'archived_meter')).toBe('already_recorded');
    expect(await only(subscriptionUuid)).toMatchObject({ state: 'SENT', identifier: next });

    // The re-sent event failing too is a new error, and a second re-queue takes a third identifier;
    // reports naming either earlier identifier are still recognised.
    expect(await store.markEngineError(next, 'archived_meter')).toBe('recorded');
    await store.requeueEngineError(id);
    expect((await only(subscriptionUuid)).identifier).toBe(resendIdentifier(next));
    expect(await store.markEngineError(identifier, 'archived_meter')).toBe('already_recorded');
    expect(await store.markEngineError(next, 'archived_meter')).toBe('already_recorded');
    expect((await only(subscriptionUuid)).state).toBe('PENDING');

    expect(await store.markEngineError(`not-ours-${subscriptionUuid}`, 'archived_meter')).toBe('unknown');
  });
});
