import type { Knex } from 'knex';
import { httpIntegrationEngine } from '../../../plugins/http-integration';
import { subscriptionCreatedData } from '../../../plugins/http-integration/protocol';
import type { SubscriptionRef } from '../../../src/domain/model';
import { createLogger } from '../../../src/logger';
import { EngineOptionsError, type CoreRecords, type EngineDependencies, type TenantSettings } from '../../../src/monetization/monetization';
import { sentBodyProblems } from './protocol-schema';

/**
 * The engine's options and per-tenant settings as it starts, and the accounts `subscription.created`
 * carries for each `integration_account_kind` (no database: nothing is queried before start-up fails).
 */
const TENANT = { domain: 'acme.com', id: 7 };

function dependencies(accountKind?: string): EngineDependencies {
  const tenant: TenantSettings = { ...TENANT, platformAccountKey: undefined, secrets: accountKind === undefined ? {} : { integration_account_kind: accountKind } };
  return {
    core: {} as CoreRecords,
    store: {} as Knex,
    logger: createLogger('silent'),
    clock: () => new Date('2030-01-01T00:00:00Z'),
    tenants: { find: (domain) => (domain === tenant.domain ? tenant : undefined), all: () => [tenant] },
  };
}

function startError(options: unknown, accountKind?: string): Error {
  try {
    httpIntegrationEngine.create(options, dependencies(accountKind));
  } catch (error) {
    return error as Error;
  }
  throw new Error('the engine started');
}

describe('http-integration engine start-up', () => {
  it('refuses a bad or unknown option with an error naming the key', () => {
    const outOfRange = startError({ timeout_ms: 5 });
    expect(outOfRange).toBeInstanceOf(EngineOptionsError);
    expect(outOfRange.message).toContain('apim.monetization.http-integration.timeout_ms');
    expect(startError({ outbox_max_attempt: 3 }).message).toContain('apim.monetization.http-integration.outbox_max_attempt: unknown key');
    expect(startError({ sync_retries: 'two' }).message).toContain('apim.monetization.http-integration.sync_retries');
  });

  it('refuses an integration_account_kind other than user, team or org, naming the tenant and the key', () => {
    const error = startError({}, 'group');
    expect(error).toBeInstanceOf(EngineOptionsError);
    expect(error.message).toBe('invalid HTTP integration settings: tenant acme.com: monetization_info.integration_account_kind: "group" is not one of user, team, org');
    for (const kind of [undefined, 'user', 'team', 'org']) expect(() => httpIntegrationEngine.create({}, dependencies(kind))).not.toThrow();
  });
});

describe('subscription.created account by integration_account_kind', () => {
  const subscription: SubscriptionRef = {
    uuid: 'sub-1',
    api: { uuid: 'api-1', name: 'Hello', version: '1.0.0', provider: 'pat', tenant: TENANT },
    application: { uuid: 'app-uuid-1', name: 'Shop' },
    subscriber: { userId: 'alice', email: 'alice@example.com' },
    policy: { uuid: 'pol-1', name: 'Gold', tenant: TENANT, billingPlan: 'COMMERCIAL', pricing: { plan: 'FIXEDRATE', currency: 'usd', billingCycle: 'month', fixedPrice: '5.00' } },
  };

  it.each([
    ['user', { kind: 'user', id: 'alice', name: 'alice', email: 'alice@example.com' }],
    ['team', { kind: 'team', id: 'app-uuid-1', name: 'Shop', email: 'alice@example.com' }],
    ['org', { kind: 'org', id: 'acme.com', name: 'acme.com', email: null }],
  ] as const)('%s', (kind, account) => {
    const data = subscriptionCreatedData(subscription, 'plan-gold', kind);
    expect(data.account).toEqual(account);
    expect(sentBodyProblems({ type: 'subscription.created', timestamp: '2030-01-01T00:00:00.000Z', data } as { type: string })).toEqual([]);
  });
});
