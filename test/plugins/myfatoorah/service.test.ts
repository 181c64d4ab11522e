import { startMyFatoorahServer, type MyFatoorahServer } from '../../../dev/myfatoorah-server';
import { parseConfig } from '../../../src/config/load';
import { mintToken } from '../../../src/http/auth/tokens';
import { createLogger } from '../../../src/logger';
import { startService, type RunningService } from '../../../src/service';
import { forEachTestDatabase } from '../../helpers/databases';
import { ADMIN, policyBody, SCOPES, uniqueName } from '../../helpers/rest-harness';

/**
 * Meterline started with `monetization_impl = "myfatoorah"` (its options and tenant secrets read
 * from the configuration like any engine's): a COMMERCIAL policy in a currency MyFatoorah invoices
 * is created, one in another currency (the engine's check) or finer than the currency (the core's)
 * is refused with a 400 naming the field, and nothing reaches MyFatoorah (it has no plans).
 */
forEachTestDatabase((_kind, db) => {
  let mf: MyFatoorahServer;
  let service: RunningService;
  let admin: string;

  beforeAll(async () => {
    mf = await startMyFatoorahServer({ accounts: [{ token: 'mf_service_kwt', country: 'KWT' }] });
    const config = parseConfig(
      {
        database: { apim_db: db().config },
        auth: { jwt: { secret: 'myfatoorah-service-test-secret-0123456789', issuer: 'meterline', audience: 'meterline' } },
        apim: { monetization: { monetization_impl: 'myfatoorah', myfatoorah: { api_base_url: mf.url } } },
        logging: { level: 'silent' },
        tenants: [{ domain: 'carbon.super', id: -1234, monetization_info: { myfatoorah_api_token: 'mf_service_kwt', myfatoorah_webhook_secret: 'whsec_kwt_test' } }],
      },
      {},
      'test',
    );
    service = await startService({ config, logger: createLogger('silent'), port: 0 });
    admin = mintToken(config.auth.jwt!, { subject: 'admin', tenant: undefined, scopes: SCOPES.admin });
  });

  afterAll(async () => {
    await service?.close();
    await mf?.close();
  });

  const createPolicy = async (body: unknown) => {
    const response = await fetch(`${service.url}${ADMIN}/throttling/policies/subscription`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as { description?: string; error?: Array<{ code: string; message: string }> } };
  };

  it('creates a KWD plan, refuses USD and an amount finer than the currency, naming the field', async () => {
    expect((await createPolicy(policyBody(uniqueName('Kwd'), { plan: 'FIXEDRATE', price: '5.250', currency: 'KWD' }))).status).toBe(201);
    const usd = await createPolicy(policyBody(uniqueName('Usd'), { plan: 'FIXEDRATE', price: '10', currency: 'USD' }));
    expect(usd.status).toBe(400);
    expect(usd.body.error).toEqual([{ code: expect.stringMatching(/currencyType$/), message: expect.stringMatching(/MyFatoorah cannot invoice in USD/) }]);
    const fine = await createPolicy(policyBody(uniqueName('Sar'), { plan: 'FIXEDRATE', price: '10.005', currency: 'SAR' }));
    expect(fine.status).toBe(400);
    // The core already refuses an amount finer than the currency, before the engine's check.
    expect(fine.body.error).toEqual([{ code: 'monetization.properties.fixedPrice', message: expect.stringMatching(/more decimal places than SAR allows/) }]);
    expect(mf.requests.list()).toEqual([]);
  });
});
