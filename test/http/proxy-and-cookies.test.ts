import type { MeterlineConfig } from '../../src/config/schema';
import { mintToken } from '../../src/http/auth/tokens';
import { SESSION_COOKIE } from '../../src/http/pages/devportal-pages';
import { createLogger } from '../../src/logger';
import { startService, type RunningService } from '../../src/service';
import { createTestDatabase, type TestDatabase } from '../helpers/databases';
import { harnessConfig } from '../helpers/rest-harness';
import { startStripeServer, type StripeServer } from '../../dev/stripe-server';

/**
 * The devportal session cookie holds the bearer token, so it is `Secure` whenever the browser
 * reached Meterline over HTTPS: directly, or through a TLS-terminating proxy that `[server]
 * trust_proxy` says to believe (X-Forwarded-Proto). A proxy header from anyone else is ignored,
 * and a cookie Meterline cannot read is simply no session. Independent of the database: SQLite.
 */
let stripeServer: StripeServer;
let database: TestDatabase;
beforeAll(async () => {
  stripeServer = await startStripeServer({ port: 0 });
  database = await createTestDatabase({ kind: 'sqlite' });
});
afterAll(async () => {
  await database.destroy();
  await stripeServer.close();
});

async function startWith(trustProxy: MeterlineConfig['server']['trust_proxy']): Promise<{ service: RunningService; config: MeterlineConfig }> {
  const base = harnessConfig(database, stripeServer, { superKey: 'sk_test_cookies_super', otherKey: 'sk_test_cookies_acme' });
  const config: MeterlineConfig = { ...base, server: { ...base.server, trust_proxy: trustProxy } };
  return { service: await startService({ config, logger: createLogger('silent'), port: 0 }), config };
}

/** Signs in through the form as a browser on the same site would; returns the Set-Cookie header. */
async function signIn(url: string, config: MeterlineConfig, headers: Record<string, string> = {}): Promise<{ status: number; cookie: string }> {
  const token = mintToken(config.auth.jwt!, { subject: 'sam', tenant: undefined, scopes: ['apim:subscribe'] });
  const response = await fetch(`${url}/devportal/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'same-origin', ...headers },
    body: new URLSearchParams({ token, next: '/devportal/login' }).toString(),
  });
  return { status: response.status, cookie: response.headers.get('set-cookie') ?? '' };
}

const attributes = (cookie: string) => cookie.split(';').map((part) => part.trim().toLowerCase());

describe('with trust_proxy = true (behind a TLS-terminating proxy)', () => {
  let service: RunningService;
  let config: MeterlineConfig;
  beforeAll(async () => ({ service, config } = await startWith(true)));
  afterAll(() => service.close());

  it('a sign-in forwarded as https sets a Secure, HttpOnly, SameSite=Strict cookie', async () => {
    const { status, cookie } = await signIn(service.url, config, { 'x-forwarded-proto': 'https' });
    expect(status).toBe(303);
    expect(cookie.startsWith(`${SESSION_COOKIE}=`)).toBe(true);
    expect(attributes(cookie)).toEqual(expect.arrayContaining(['secure', 'httponly', 'samesite=strict', 'path=/devportal']));
  });

  it('a sign-in forwarded as plain http gets no Secure', async () => {
    const { status, cookie } = await signIn(service.url, config, { 'x-forwarded-proto': 'http' });
    expect(status).toBe(303);
    expect(attributes(cookie)).not.toContain('secure');
  });

  it('signing out behind the proxy clears the cookie with the same attributes', async () => {
    const response = await fetch(`${service.url}/devportal/logout`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'sec-fetch-site': 'same-origin', 'x-forwarded-proto': 'https' },
    });
    expect(response.status).toBe(303);
    expect(attributes(response.headers.get('set-cookie') ?? '')).toEqual(expect.arrayContaining(['secure', 'path=/devportal']));
  });
});

describe('with trust_proxy = ["127.0.0.1"] (the proxy named by address)', () => {
  let service: RunningService;
  let config: MeterlineConfig;
  beforeAll(async () => ({ service, config } = await startWith(['127.0.0.1'])));
  afterAll(() => service.close());

  it('the listed proxy is believed: Secure', async () => {
    expect(attributes((await signIn(service.url, config, { 'x-forwarded-proto': 'https' })).cookie)).toContain('secure');
  });
});

describe('with trust_proxy = ["10.0.0.0/8"] (a proxy this client is not)', () => {
  let service: RunningService;
  let config: MeterlineConfig;
  beforeAll(async () => ({ service, config } = await startWith(['10.0.0.0/8'])));
  afterAll(() => service.close());

  it('X-Forwarded-Proto from an address outside the list is ignored: no Secure', async () => {
    expect(attributes((await signIn(service.url, config, { 'x-forwarded-proto': 'https' })).cookie)).not.toContain('secure');
  });
});

describe('with the default (trust_proxy = false)', () => {
  let service: RunningService;
  let config: MeterlineConfig;
  beforeAll(async () => ({ service, config } = await startWith(false)));
  afterAll(() => service.close());

  it('X-Forwarded-Proto is ignored: a plain http sign-in claiming https gets no Secure', async () => {
    const { status, cookie } = await signIn(service.url, config, { 'x-forwarded-proto': 'https' });
    expect(status).toBe(303);
    expect(cookie.startsWith(`${SESSION_COOKIE}=`)).toBe(true);
    expect(attributes(cookie)).not.toContain('secure');
  });

  it('plain http without proxy headers: no Secure', async () => {
    expect(attributes((await signIn(service.url, config)).cookie)).not.toContain('secure');
  });

  it.each([
    ['not percent-encoding', `${SESSION_COOKIE}=%E0%A4%A`],
    ['a lone %', `${SESSION_COOKIE}=%`],
    ['not a token', `${SESSION_COOKIE}=not.a.token`],
    ['empty', `${SESSION_COOKIE}=`],
    ['no "=" at all', `${SESSION_COOKIE}; other=1`],
  ])('a session cookie that is %s means "not signed in": redirected to the sign-in page, never a 500', async (_label, cookie) => {
    const response = await fetch(`${service.url}/devportal/subscriptions/some-subscription/invoice`, { redirect: 'manual', headers: { cookie } });
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe(`/devportal/login?next=${encodeURIComponent('/devportal/subscriptions/some-subscription/invoice')}`);
  });
});
