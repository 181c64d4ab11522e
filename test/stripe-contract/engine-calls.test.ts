import { CONTRACT_CALLS, defineStripeContract } from './contract';
import { ENGINE_CALLS, scanEngine, scanSource, type EngineCall } from './engine-calls';
import { localTarget } from './targets';

/**
 * Every Stripe call the engine makes is listed (engine-calls.ts) and made by a contract test
 * (contract.ts): a new call in plugins/stripe fails here until the contract covers it.
 */
describe('the Stripe contract covers every call the engine makes', () => {
  // Defines the contract's tests (never run here) so CONTRACT_CALLS is filled in.
  describe.skip('contract (definition only)', () => defineStripeContract(localTarget));

  const scanned = scanEngine();

  it('finds the engine calls, and only under the client name it can see', () => {
    expect(scanned.problems).toEqual([]);
    expect(scanned.calls.length).toBeGreaterThan(20);
  });

  it('every call in plugins/stripe is listed in engine-calls.ts', () => {
    const listed = new Set(Object.keys(ENGINE_CALLS));
    const missing = scanned.calls.filter((c) => !listed.has(c.call)).map((c) => `${c.call} (${c.file}:${c.line})`);
    expect(missing).toEqual([]);
  });

  it('every listed call is still made by the engine (a stale entry is removed)', () => {
    const made = new Set(scanned.calls.map((c) => c.call));
    expect(Object.keys(ENGINE_CALLS).filter((call) => !made.has(call))).toEqual([]);
  });

  it('every listed call is made by at least one contract test', () => {
    expect((Object.keys(ENGINE_CALLS) as EngineCall[]).filter((call) => !CONTRACT_CALLS.has(call))).toEqual([]);
  });

  it('the scan sees calls across lines and on a client built in place, and not in comments', () => {
    const source = [
      '// stripe.refunds.create( in a comment',
      '/* stripe.payouts.create( */',
      'await stripe',
      '  .invoices',
      '  .finalizeInvoice(id);',
      "clients.forTenant(tenant).v2.core.events.retrieve(id, {}, {});",
      "const url = 'https://docs.stripe.com/api'; stripe.billing.meterEvents.create({});",
    ].join('\n');
    expect(scanSource(source).calls.map((c) => c.call)).toEqual(['invoices.finalizeInvoice', 'v2.core.events.retrieve', 'billing.meterEvents.create']);
  });

  it('refuses a client under another name, whose calls the scan would miss', () => {
    const source = ['const client = this.clients.forTenant(domain);', 'async function f(s: Stripe) {}', 'function g(stripe: Stripe, x: string) {}'].join('\n');
    expect(scanSource(source).problems).toEqual([
      expect.stringContaining('named "client"'),
      expect.stringContaining('named "s"'),
    ]);
  });
});
