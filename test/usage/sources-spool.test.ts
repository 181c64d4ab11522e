import { appendFileSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startStripeServer, type StripeServer } from '../../dev/stripe-server';
import { configSchema } from '../../src/config/schema';
import { spoolUsageSink } from '../../src/gateway-kit/spool-usage-sink';
import { createLogger } from '../../src/logger';
import { SourcePositions } from '../../src/usage/source-positions';
import { createUsageSource, LogFedSource, SpoolIntake, SPOOL_OFFSET_PREFIX } from '../../src/usage/sources';
import { forEachTestDatabase } from '../helpers/databases';
import { migrateLatest } from '../helpers/migrations';
import { callEvent, minutesAfter, monetizedWorld, type BilledSubscription } from './world';

/** A gateway's usage spool (spoolUsageSink) read into the event store by the `spool` intake. One migrated database and one world per kind. */
forEachTestDatabase((kind, database) => {
  let server: StripeServer;
  let world: Awaited<ReturnType<typeof monetizedWorld>>;
  let a: BilledSubscription;
  let t0: Date;
  let dir: string;

  beforeAll(async () => {
    server = await startStripeServer({ port: 0, startAt: Date.UTC(2030, 4, 6, 9, 0, 0) / 1000 });
    await migrateLatest(database().knex);
    t0 = new Date(server.clock.now() * 1000);
    world = await monetizedWorld(server, database().knex, 1);
    [a] = world.billed as [BilledSubscription];
    server.clock.advance(2 * 3600);
  });
  afterAll(() => server.close());
  beforeEach(async () => {
    for (const table of ['ML_USAGE_EVENT', 'ML_USAGE_SOURCE_POSITION']) await database().knex(table).delete();
    dir = mkdtempSync(path.join(tmpdir(), `spool-${kind}-`));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A reader as a (re)started Meterline builds it: nothing in memory, offsets from the database. */
  const intake = (chunkBytes?: number) =>
    new SpoolIntake({
      directory: dir,
      positions: new SourcePositions(database().knex),
      ingest: (events, how) => world.usage.ingestion.ingest(events, how),
      logger: createLogger('silent'),
      now: () => world.clock().getTime(),
      ...(chunkBytes ? { chunkBytes } : {}),
    });
  const billable = async () => (await database().knex('ML_USAGE_EVENT').where({ SUBSCRIPTION_UUID: a.subscription.uuid, PUBLISH_STATE: 1 }).select('SEQ')).length;
  const spoolOffsets = async () => (await database().knex('ML_USAGE_SOURCE_POSITION').where('SOURCE', 'like', `${SPOOL_OFFSET_PREFIX}%`).select('SOURCE')).length;
  const calls = (from: number, n: number) => Array.from({ length: n }, (_, i) => callEvent(a, minutesAfter(t0, from + i)));

  it('exactly once across restarts: a half-written line waits until complete; lines read again after lost offsets are duplicates', async () => {
    const sink = spoolUsageSink({ directory: dir });
    await sink.ingest(calls(1, 3));
    const [active] = readdirSync(dir) as [string];
    expect(active).toMatch(/^usage-\d{13}-[0-9a-z]+-000001\.ndjson$/);
    // A batch being written: its line without its newline yet.
    const line = `${JSON.stringify(callEvent(a, minutesAfter(t0, 4)))}\n`;
    appendFileSync(path.join(dir, active), line.slice(0, 40));
    expect(await intake(1024).read()).toMatchObject({ lines: 3, accepted: 3, malformed: 0 });
    appendFileSync(path.join(dir, active), line.slice(40));
    // A new process goes on where the last one stopped.
    expect(await intake(1024).read()).toMatchObject({ lines: 1, accepted: 1, duplicates: 0, malformed: 0 });
    expect(await intake().read()).toMatchObject({ lines: 0 });
    // A crash after storing and before saving the offset: read again, stored once.
    await database().knex('ML_USAGE_SOURCE_POSITION').delete();
    expect(await intake().read()).toMatchObject({ lines: 4, accepted: 0, duplicates: 4 });
    expect(await billable()).toBe(4);
  });

  it('rotation: a finished file is read to its end, deleted and its offset forgotten; a dead writer\'s half line is skipped; configured in TOML as [usage_publisher.spool]', async () => {
    const config = configSchema.parse({ apim: { monetization: { usage_publisher: { spool: { directory: dir } } } } });
    const source = createUsageSource('local', {
      db: database().knex,
      logger: createLogger('silent'),
      clock: world.clock,
      ingest: (events, how) => world.usage.ingestion.ingest(events, how),
      spool: config.apim.monetization.usage_publisher.spool,
    });
    expect(source).toBeInstanceOf(LogFedSource);
    const sink = spoolUsageSink({ directory: dir, maxFileBytes: 600 });
    await sink.ingest(calls(1, 2));
    await sink.ingest(calls(3, 2)); // over 600 bytes: the first file is finished, a second begun
    expect(readdirSync(dir).sort().map((n) => n.replace(/^usage-\d+-[0-9a-z]+-/, ''))).toEqual(['000001.ndjson.done', '000002.ndjson']);
    // A dead writer's finished file with a half line at its end.
    writeFileSync(path.join(dir, 'usage-0000000000001-dead01-000001.ndjson.done'), `${JSON.stringify(callEvent(a, minutesAfter(t0, 5)))}\n{"eventId":"cut-`);
    const seq = await source.settledPosition(); // reads the spool first
    expect(await billable()).toBe(5);
    expect(Math.max(...(await database().knex('ML_USAGE_EVENT').select('SEQ')).map((r) => Number(r.SEQ)))).toBe(seq);
    expect(readdirSync(dir).map((n) => n.replace(/^usage-\d+-[0-9a-z]+-/, ''))).toEqual(['000002.ndjson']);
    expect(await spoolOffsets()).toBe(1);
    await sink.close?.();
    expect(await intake().read()).toMatchObject({ files: 1, finished: 1, lines: 0 });
    expect(readdirSync(dir)).toEqual([]);
    expect(await spoolOffsets()).toBe(0);
    expect(await billable()).toBe(5);
    expect(existsSync(dir)).toBe(true);
  });
});
