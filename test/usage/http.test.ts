import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { configSchema } from '../../src/config/schema';
import { migrateLatest } from '../helpers/migrations';
import { mintToken, TokenVerifier } from '../../src/http/auth/tokens';
import { errorHandler } from '../../src/http/errors';
import { registerRoutes } from '../../src/http/route';
import { createLogger } from '../../src/logger';
import { tenantDirectoryFrom } from '../../src/monetization/tenant-directory';
import { usageIngestRouter } from '../../src/http/usage/ingest-route';
import { publishUsageRoutes } from '../../src/http/usage/publish-usage-routes';
import { forEachTestDatabase } from '../helpers/databases';
import { startStripeServer, type StripeServer } from '../../dev/stripe-server';
import { callEvent, monetizedWorld } from './world';

const config = configSchema.parse({
  auth: { jwt: { secret: 'usage-http-test-secret-usage-http-test' } },
  tenants: [{ domain: 'carbon.super', id: -1234 }, { domain: 'acme.com', id: 7 }],
});
const jwtConfig = config.auth.jwt!;
const token = (scopes: string[], tenant = 'carbon.super') => mintToken(jwtConfig, { subject: 'gw', scopes, tenant });

let server: StripeServer;
beforeAll(async () => {
  server = await startStripeServer({ port: 0 });
});
afterAll(() => server.close());

forEachTestDatabase((_kind, database) => {
  let http: Server;
  let base: string;
  let world: Awaited<ReturnType<typeof monetizedWorld>>;

  beforeAll(async () => {
    await migrateLatest(database().knex);
    world = await monetizedWorld(server, database().knex, 2, { requests_per_second: 4 });
    // The REST API's own pieces (token verifier, route registration, error handler) around the usage routes.
    const verifier = new TokenVerifier(jwtConfig, tenantDirectoryFrom(config));
    const app = express();
    app.use(usageIngestRouter(world.usage, verifier));
    app.use('/api/am', express.json());
    app.use(registerRoutes(publishUsageRoutes(world.usage), { verifier, apim: undefined as never }));
    app.use(errorHandler(createLogger('silent')));
    http = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => http.once('listening', resolve));
    base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((resolve) => http.close(resolve)));

  const post = (path: string, bearer: string | null, body?: unknown) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { ...(bearer ? { authorization: `Bearer ${bearer}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const now = () => new Date(server.clock.now() * 1000 - 60_000);

  describe('POST /api/am/usage/v1/events', () => {
    it('needs a bearer token with the scope apim:usage_ingest', async () => {
      const batch = { events: [callEvent(world.billed[0]!, now())] };
      expect((await post('/api/am/usage/v1/events', null, batch)).status).toBe(401);
      const forbidden = await post('/api/am/usage/v1/events', token(['apim:admin']), batch);
      expect(forbidden.status).toBe(403);
      expect(await forbidden.json()).toMatchObject({ code: 900910, message: 'Forbidden' });
    });

    it('answers per event: the good events of a malformed batch are stored, each bad one says why', async () => {
      const good = callEvent(world.billed[0]!, now());
      const failed = callEvent(world.billed[1]!, now(), { httpStatus: 503 });
      const response = await post('/api/am/usage/v1/events', token(['apim:usage_ingest']), {
        events: [
          good,
          { ...callEvent(world.billed[0]!, now()), httpStatus: 'ok', extra: 1 },
          { eventId: 'no-timestamp', apiId: 'x', applicationId: 'y', httpStatus: 200, tenant: 'carbon.super' },
          callEvent(world.billed[0]!, new Date(server.clock.now() * 1000 + 3_600_000)),
          failed,
          good,
          42,
        ],
      });
      expect(response.status).toBe(200);
      const body = (await response.json()) as { accepted: number; duplicates: number; rejected: number; results: Array<Record<string, unknown>> };
      expect(body).toMatchObject({ accepted: 2, duplicates: 1, rejected: 4 });
      expect(body.results).toEqual([
        { index: 0, eventId: good.eventId, status: 'accepted', billable: true },
        {
          index: 1,
          eventId: expect.any(String),
          status: 'rejected',
          errors: expect.arrayContaining([
            { field: 'events[1].extra', message: 'is not a supported field' },
            { field: 'events[1].httpStatus', message: expect.any(String) },
          ]),
        },
        {
          index: 2,
          eventId: 'no-timestamp',
          status: 'rejected',
          errors: [{ field: 'events[2].timestamp', message: expect.any(String) }],
        },
        { index: 3, eventId: expect.any(String), status: 'rejected', errors: [{ field: 'events[3].timestamp', message: 'is more than 5 minutes in the future' }] },
        { index: 4, eventId: failed.eventId, status: 'accepted', billable: false, reason: 'UNSUCCESSFUL_CALL' },
        { index: 5, eventId: good.eventId, status: 'duplicate' },
        { index: 6, eventId: null, status: 'rejected', errors: [{ field: 'events[6]', message: expect.any(String) }] },
      ]);
      const again = await post('/api/am/usage/v1/events', token(['apim:usage_ingest']), { events: [good] });
      expect(((await again.json()) as { results: unknown[] }).results).toEqual([{ index: 0, eventId: good.eventId, status: 'duplicate' }]);
      expect(Number((await database().knex('ML_USAGE_EVENT').where({ EVENT_ID: good.eventId }).count({ N: '*' }).first())?.N)).toBe(1);
    });

    it('answers 200 for characters no database stores: the event is rejected naming the field, the rest stored', async () => {
      const good = callEvent(world.billed[0]!, now());
      const nulId = callEvent(world.billed[0]!, now(), { eventId: 'evt-\u0000-nul' });
      const nulKey = callEvent(world.billed[1]!, now(), { consumerKey: 'ck\u0000' });
      const response = await post('/api/am/usage/v1/events', token(['apim:usage_ingest']), { events: [nulId, good, nulKey] });
      expect(response.status).toBe(200);
      expect(((await response.json()) as { results: unknown[] }).results).toEqual([
        { index: 0, eventId: 'evt-\u0000-nul', status: 'rejected', errors: [{ field: 'events[0].eventId', message: 'must not contain the NUL character (U+0000)' }] },
        { index: 1, eventId: good.eventId, status: 'accepted', billable: true },
        { index: 2, eventId: nulKey.eventId, status: 'rejected', errors: [{ field: 'events[2].consumerKey', message: 'must not contain the NUL character (U+0000)' }] },
      ]);
    });

    it('answers with the counts and only the rejected events when asked Prefer: return=minimal (RFC 7240)', async () => {
      const ask = (prefer: string | undefined, events: unknown[]) =>
        fetch(`${base}/api/am/usage/v1/events`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token(['apim:usage_ingest'])}`, 'content-type': 'application/json', ...(prefer ? { prefer } : {}) },
          body: JSON.stringify({ events }),
        });
      // Unsuccessful calls only, so that the publish-usage tests below count the same billable events.
      const good = callEvent(world.billed[0]!, now(), { httpStatus: 404 });
      const failed = callEvent(world.billed[1]!, now(), { httpStatus: 503 });
      const foreign = callEvent(world.billed[0]!, now(), { tenant: 'acme.com', httpStatus: 404 });
      const minimal = await ask('respond-async, return="minimal"; ignored=1', [good, { eventId: 'bad', timestamp: 'soon' }, failed, good, foreign]);
      expect(minimal.status).toBe(200);
      expect(minimal.headers.get('preference-applied')).toBe('return=minimal');
      expect(await minimal.json()).toEqual({
        accepted: 2,
        duplicates: 1,
        rejected: 2,
        results: [
          { index: 1, eventId: 'bad', status: 'rejected', errors: expect.arrayContaining([{ field: 'events[1].timestamp', message: expect.any(String) }]) },
          { index: 4, eventId: foreign.eventId, status: 'rejected', errors: [{ field: 'events[4].tenant', message: expect.stringContaining('carbon.super') }] },
        ],
      });
      const stored = await database().knex('ML_USAGE_EVENT').whereIn('EVENT_ID', [good.eventId, failed.eventId, foreign.eventId, 'bad']).select('EVENT_ID');
      expect(stored.map((row: { EVENT_ID: string }) => row.EVENT_ID).sort()).toEqual([failed.eventId, good.eventId].sort());

      // A clean batch: counts and no results; other preferences (or none) keep a result per event.
      const clean = await ask('return=minimal', [callEvent(world.billed[0]!, now(), { httpStatus: 404 })]);
      expect(await clean.json()).toEqual({ accepted: 1, duplicates: 0, rejected: 0, results: [] });
      for (const prefer of [undefined, 'return=representation', 'handling=lenient']) {
        const full = await ask(prefer, [good]);
        expect(full.headers.get('preference-applied')).toBeNull();
        expect(await full.json()).toEqual({ accepted: 0, duplicates: 1, rejected: 0, results: [{ index: 0, eventId: good.eventId, status: 'duplicate' }] });
      }
    });

    it("rejects events of another tenant than the token's, and a batch that is not { events: [...] }", async () => {
      const event = callEvent(world.billed[0]!, now());
      const response = await post('/api/am/usage/v1/events', token(['apim:usage_ingest'], 'acme.com'), { events: [event] });
      expect(await response.json()).toMatchObject({ accepted: 0, rejected: 1, results: [{ status: 'rejected', errors: [{ field: 'events[0].tenant' }] }] });
      const empty = await post('/api/am/usage/v1/events', token(['apim:usage_ingest']), { events: [] });
      expect(empty.status).toBe(400);
      // Fields are named relative to the body, as in every REST answer (src/validation/issues.ts).
      expect(await empty.json()).toMatchObject({ code: 400, description: expect.stringMatching(/^events: /), error: [{ code: 'events', message: expect.any(String) }] });
    });
  });

  describe('publish-usage', () => {
    const admin = () => token(['apim:admin']);

    it('starts one job for many parallel requests (202 with WSO2 body), the others hear that one is running (409)', async () => {
      await world.usage.ingestion.ingest(world.billed.map((s) => callEvent(s, now())));
      // The job's Stripe calls wait until every request was answered: the job is running for
      // all 20 of them, however slowly they arrive, and may then finish.
      const held = server.faults.hold({ method: 'POST', path: '/v1/billing/meter_events' });
      let responses;
      try {
        responses = await Promise.all(Array.from({ length: 20 }, () => post('/api/am/admin/v4/monetization/publish-usage', admin())));
      } finally {
        held.release();
      }
      const statuses = responses.map((r) => r.status).sort();
      expect(statuses.filter((s) => s === 202)).toHaveLength(1);
      expect(statuses.filter((s) => s === 409)).toHaveLength(19);
      const accepted = responses.find((r) => r.status === 202)!;
      expect(await accepted.json()).toMatchObject({ status: 'Request Accepted', message: 'Server is running the usage publisher' });
      expect(await responses.find((r) => r.status === 409)!.json()).toMatchObject({
        status: 'Server could not accept the request',
        message: 'A job is already running',
      });
      await world.usage.publisher.current();
    });

    it("status has WSO2's fields (lastPublsihedTime spelt as WSO2 does) and the progress", async () => {
      await world.usage.publisher.current();
      const response = await fetch(`${base}/api/am/admin/v4/monetization/publish-usage/status`, { headers: { authorization: `Bearer ${admin()}` } });
      expect(response.status).toBe(200);
      const body = (await response.json()) as Record<string, unknown>;
      expect(body).toMatchObject({
        state: 'COMPLETED',
        status: 'SUCCESSFULL',
        startedTime: expect.stringMatching(/^\d+$/),
        lastPublsihedTime: expect.stringMatching(/^\d+$/),
        progress: { phase: 'DONE', subscriptionsTotal: 2, subscriptionsDone: 2, subscriptionsFailed: 0, recordsSent: 2, eventsPublished: 4, failures: [] },
        lease: { owner: null, expired: false },
      });
    });

    it("is for the super tenant's admins only, with WSO2's scopes", async () => {
      expect((await post('/api/am/admin/v4/monetization/publish-usage', token(['apim:admin'], 'acme.com'))).status).toBe(403);
      expect((await post('/api/am/admin/v4/monetization/publish-usage', token(['apim:usage_ingest']))).status).toBe(403);
      expect((await post('/api/am/admin/v4/monetization/publish-usage', null)).status).toBe(401);
    });
  });
});
