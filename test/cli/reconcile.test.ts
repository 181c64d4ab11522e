import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import Stripe from 'stripe';
import type { MeterlineConfig } from '../../src/config/schema';
import { mintToken } from '../../src/http/auth/tokens';
import { createLogger } from '../../src/logger';
import { reconcileCommand } from '../../src/monetization/reconcile-command';
import { UNFINISHED_GRACE_SECONDS } from '../../src/monetization/reconcile';
import { startService, type RunningService } from '../../src/service';
import { runCli } from '../helpers/cli';
import { forEachTestDatabase } from '../helpers/databases';
import { ADMIN, DEVPORTAL, harnessConfig, policyBody, PUBLISHER, SCOPES, uniqueName } from '../helpers/rest-harness';
import { STORY_START } from '../helpers/test-clock';
import { startStripeServer, type StripeServer } from '../stripe-server';

/**
 * `meterline reconcile [--dry-run]` (issue 12, item 4): orphans both ways, on the real database
 * and the local Stripe server. Each state is what a killed or failed workflow leaves:
 * - an orphan: a live Stripe subscription whose Meterline subscription is gone;
 * - an unfinished subscription: ON_HOLD, no billing record, the Stripe subscription made but
 *   not recorded (a subscribe killed after creating it), older than the grace time;
 * and what must be left alone: a healthy subscription, one held until paid (ON_HOLD with its
 * billing record), and an unfinished one still within the grace time.
 */
forEachTestDatabase((_kind, database) => {
  let stripeServer: StripeServer;
  let service: RunningService;
  let config: MeterlineConfig;
  let platform: Stripe;
  let account: string;
  let tier: string;
  let apiId: string;
  const clock = () => new Date(stripeServer.clock.now() * 1000);

  function token(sub: string, scopes: readonly string[], email?: string): string {
    return mintToken(config.auth.jwt!, { subject: sub, tenant: undefined, scopes, ...(email ? { email } : {}) });
  }

  async function call(method: string, path: string, bearer: string, body?: unknown): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
    const response = await fetch(`${service.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${bearer}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
  }

  beforeAll(async () => {
    stripeServer = await startStripeServer({ port: 0, startAt: STORY_START });
    const superKey = `sk_test_reconcile_${process.pid}_${Date.now()}`;
    config = harnessConfig(database(), stripeServer, { superKey, otherKey: `${superKey}_acme` });
    service = await startService({ config, logger: createLogger('silent'), port: 0, clock });
    platform = new Stripe(superKey, { host: stripeServer.host, port: stripeServer.port, protocol: 'http', maxNetworkRetries: 0, telemetry: false });
    const admin = token('admin', SCOPES.admin);
    const publisher = token('pat', SCOPES.publisher);
    const policy = (await call('POST', `${ADMIN}/throttling/policies/subscription`, admin, policyBody(uniqueName('Gold'), { plan: 'FIXEDRATE', price: '10.00' }))).body;
    const name = uniqueName('Api');
    const api = (await call('POST', `${PUBLISHER}/apis`, publisher, { name, version: '1.0.0', context: `/${name.toLowerCase()}`, policies: [policy.policyName] })).body;
    expect((await call('POST', `${PUBLISHER}/apis/change-lifecycle?apiId=${api.id}&action=Publish`, publisher)).status).toBe(200);
    account = (await platform.accounts.create({ type: 'express' })).id;
    expect((await call('POST', `${PUBLISHER}/apis/${api.id}/monetize`, publisher, { enabled: true, properties: { ConnectedAccountKey: account } })).status).toBe(201);
    tier = policy.policyName;
    apiId = api.id;
  });
  afterAll(async () => {
    await service?.close();
    await stripeServer?.close();
  });

  /** A complete billed subscription of a new application: its Meterline uuid and Stripe subscription id. */
  async function subscription(label: string): Promise<{ uuid: string; stripeId: string }> {
    const sub = uniqueName(label).toLowerCase();
    const bearer = token(sub, SCOPES.subscriber, `${sub}@example.com`);
    const app = (await call('POST', `${DEVPORTAL}/applications`, bearer, { name: uniqueName('app'), throttlingPolicy: 'Unlimited' })).body;
    const created = await call('POST', `${DEVPORTAL}/subscriptions`, bearer, { applicationId: app.applicationId, apiId, throttlingPolicy: tier });
    expect(created.status).toBe(201);
    const billed = await service.engine.billedSubscriptionOf(created.body.subscriptionId);
    return { uuid: created.body.subscriptionId, stripeId: billed!.engineSubscriptionId };
  }

  /** Turns a complete subscription into what a subscribe killed right after creating the Stripe subscription leaves. */
  async function asIfKilledAfterStripe(s: { uuid: string; stripeId: string }): Promise<void> {
    const db = service.db;
    await db('AM_MONETIZATION_SUBSCRIPTIONS').where({ SUBSCRIPTION_ID: s.stripeId }).delete();
    await db('ML_ENGINE_SUBSCRIPTION').where({ ENGINE_SUBSCRIPTION_ID: s.stripeId }).delete();
    await db('ML_SUBSCRIPTION_BILLING').where({ SUBSCRIPTION_UUID: s.uuid }).delete();
    await db('AM_SUBSCRIPTION').where({ UUID: s.uuid }).update({ SUB_STATUS: 'ON_HOLD' });
  }

  async function run(dryRun: boolean): Promise<{ code: number; lines: string[] }> {
    const out = new PassThrough();
    let text = '';
    out.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    const code = await reconcileCommand(config, createLogger('silent'), { dryRun, out, clock });
    return { code, lines: text.trim().split('\n') };
  }

  async function statusOf(stripeId: string): Promise<string> {
    return (await platform.subscriptions.retrieve(stripeId, {}, { stripeAccount: account })).status;
  }

  it('lists orphans both ways with --dry-run and changes nothing; without it cancels and removes them; then finds nothing', async () => {
    const healthy = await subscription('healthy');
    const held = await subscription('held');
    await service.db('AM_SUBSCRIPTION').where({ UUID: held.uuid }).update({ SUB_STATUS: 'ON_HOLD' }); // held until paid: has its billing record
    const orphan = await subscription('orphan');
    await service.db('AM_SUBSCRIPTION').where({ UUID: orphan.uuid }).delete(); // the row went, the Stripe subscription stayed
    const unfinished = await subscription('unfinished');
    await asIfKilledAfterStripe(unfinished);
    stripeServer.clock.advance(UNFINISHED_GRACE_SECONDS + 60);
    const recent = await subscription('recent');
    await asIfKilledAfterStripe(recent); // within the grace time: perhaps still running elsewhere

    const listed = await run(true);
    expect(listed.code).toBe(0);
    expect(listed.lines).toHaveLength(3);
    expect(listed.lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`^unfinished subscription ${unfinished.uuid} \\(tenant carbon.super, .*ON_HOLD since .*: would cancel what the billing engine made for it and remove it \\(dry run\\)$`)),
        expect.stringMatching(new RegExp(`^orphan engine subscription ${orphan.stripeId} in ${account} \\(tenant carbon.super, active, names subscription ${orphan.uuid}, .*: would cancel it with a final invoice \\(dry run\\)$`)),
        'reconcile: 2 finding(s) listed (dry run: nothing changed), 0 failed',
      ]),
    );
    for (const s of [healthy, held, orphan, unfinished, recent]) expect(await statusOf(s.stripeId)).toBe('active');
    expect(await service.db('AM_SUBSCRIPTION').where({ UUID: unfinished.uuid }).first('SUB_STATUS')).toEqual({ SUB_STATUS: 'ON_HOLD' });
    expect(await service.db('AM_MONETIZATION_SUBSCRIPTIONS').where({ SUBSCRIPTION_ID: orphan.stripeId }).first('ID')).toBeDefined();

    const repaired = await run(false);
    expect(repaired.code).toBe(0);
    expect(repaired.lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`^unfinished subscription ${unfinished.uuid} .*: cancelled what the billing engine made for it and removed it$`)),
        expect.stringMatching(new RegExp(`^orphan engine subscription ${orphan.stripeId} .*: cancelled it with a final invoice$`)),
        'reconcile: 2 finding(s) repaired, 0 failed',
      ]),
    );
    expect(await statusOf(orphan.stripeId)).toBe('canceled');
    expect(await statusOf(unfinished.stripeId)).toBe('canceled');
    for (const s of [healthy, held, recent]) expect(await statusOf(s.stripeId)).toBe('active');
    expect(await service.db('AM_SUBSCRIPTION').where({ UUID: unfinished.uuid }).first('UUID')).toBeUndefined();
    expect(await service.db('AM_MONETIZATION_SUBSCRIPTIONS').where({ SUBSCRIPTION_ID: orphan.stripeId }).first('ID')).toBeUndefined();
    expect(await service.db('ML_ENGINE_SUBSCRIPTION').where({ ENGINE_SUBSCRIPTION_ID: orphan.stripeId }).first('ENGINE_ACCOUNT')).toBeUndefined();
    const finalInvoices = await platform.invoices.list({ subscription: orphan.stripeId, limit: 10 }, { stripeAccount: account });
    expect(finalInvoices.data.length).toBeGreaterThan(0);
    for (const s of [healthy, held, recent]) expect(await service.db('AM_SUBSCRIPTION').where({ UUID: s.uuid }).first('UUID')).toEqual({ UUID: s.uuid });

    expect(await run(false)).toEqual({ code: 0, lines: ['reconcile: nothing to repair'] });
  }, 60_000);
});

describe('the meterline reconcile command', () => {
  it('on a database with nothing to repair prints one line and exits 0; --dry-run goes with reconcile only', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meterline-reconcile-'));
    try {
      const config = join(dir, 'deployment.toml');
      writeFileSync(config, `[database.apim_db]\ntype = "sqlite"\nfilename = "${join(dir, 'apim.db')}"\n\n[apim.monetization]\nmonetization_impl = "free"\n`);
      expect((await runCli(['migrate', '--config', config])).code).toBe(0);
      const result = await runCli(['reconcile', '--dry-run', '--config', config]);
      expect(result).toMatchObject({ code: 0, stdout: 'reconcile: nothing to repair\n' });
      const misplaced = await runCli(['migrate', '--dry-run', '--config', config]);
      expect(misplaced.code).toBe(2);
      expect(misplaced.stderr).toContain('--dry-run goes with "reconcile"');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
