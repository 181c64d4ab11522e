import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Every Stripe API call the Stripe engine (plugins/stripe) makes, as `resource.method` on the SDK
 * client, with the document that says what the contract suite checks of it. The contract suite
 * (contract.ts) names the calls each of its tests makes from this list, and engine-calls.test.ts
 * fails when the engine's source makes a call that is not listed here or that no contract test
 * makes: a new engine call cannot go untested.
 */
export const ENGINE_CALLS = {
  'accounts.retrieve': 'https://docs.stripe.com/api/accounts/retrieve',
  'products.create': 'https://docs.stripe.com/api/products/create',
  'products.retrieve': 'https://docs.stripe.com/api/products/retrieve',
  'products.update': 'https://docs.stripe.com/api/products/update',
  'products.list': 'https://docs.stripe.com/api/products/list',
  'prices.create': 'https://docs.stripe.com/api/prices/create',
  'prices.retrieve': 'https://docs.stripe.com/api/prices/retrieve',
  'prices.update': 'https://docs.stripe.com/api/prices/update',
  'prices.list': 'https://docs.stripe.com/api/prices/list',
  'billing.meters.list': 'https://docs.stripe.com/api/billing/meter/list',
  'billing.meters.create': 'https://docs.stripe.com/api/billing/meter/create',
  'billing.meterEvents.create': 'https://docs.stripe.com/api/billing/meter-event/create',
  'billing.meters.listEventSummaries': 'https://docs.stripe.com/api/billing/meter-event-summary/list',
  'customers.create': 'https://docs.stripe.com/api/customers/create',
  'customers.retrieve': 'https://docs.stripe.com/api/customers/retrieve',
  'customers.update': 'https://docs.stripe.com/api/customers/update',
  'customers.list': 'https://docs.stripe.com/api/customers/list',
  'customers.listPaymentMethods': 'https://docs.stripe.com/api/payment_methods/customer_list',
  'customers.del': 'https://docs.stripe.com/api/customers/delete',
  'paymentMethods.create': 'https://docs.stripe.com/connect/direct-charges-multiple-accounts#clone-and-create-direct-charges',
  'paymentMethods.attach': 'https://docs.stripe.com/api/payment_methods/attach',
  'subscriptions.create': 'https://docs.stripe.com/api/subscriptions/create',
  'subscriptions.retrieve': 'https://docs.stripe.com/api/subscriptions/retrieve',
  'subscriptions.list': 'https://docs.stripe.com/api/subscriptions/list',
  'subscriptions.cancel': 'https://docs.stripe.com/api/subscriptions/cancel',
  'subscriptions.update': 'https://docs.stripe.com/api/subscriptions/update',
  'invoices.createPreview': 'https://docs.stripe.com/api/invoices/create_preview',
  'invoices.list': 'https://docs.stripe.com/api/invoices/list',
  'invoices.listLineItems': 'https://docs.stripe.com/api/invoice-line-item/retrieve',
  'v2.core.events.retrieve': 'https://docs.stripe.com/api/v2/core/events/retrieve',
  'v2.billing.meterEventSession.create': 'https://docs.stripe.com/api/v2/billing-meter-stream',
  'v2.billing.meterEventStream.create': 'https://docs.stripe.com/api/v2/billing/meter-event-stream/create',
} as const;

export type EngineCall = keyof typeof ENGINE_CALLS;

export const ENGINE_DIR = join(__dirname, '..', '..', 'plugins', 'stripe');

export interface ScannedCall {
  call: string;
  file: string;
  line: number;
}

/**
 * A call on a Stripe client: `stripe.<path>(` (every engine function names its client `stripe`)
 * or `….forTenant(…).<path>(` (a client used where it is built). Spaces and line breaks between
 * the parts are allowed.
 */
const CALL = /(?:\bstripe|\.forTenant\([^()]*\))\s*\.\s*((?:[A-Za-z_$][\w$]*\s*\.\s*)*[A-Za-z_$][\w$]*)\s*\(/g;

/**
 * Ways a client could reach a call under another name, which the pattern above would miss: a
 * client built into a variable not named `stripe`, or a parameter of type `Stripe` not named
 * `stripe`. The scan refuses them, so the engine keeps to the one name.
 */
const OTHER_CLIENT_NAMES = [
  /\b(?:const|let|var)\s+(?!stripe\b)([A-Za-z_$][\w$]*)\s*(?::[^=]*)?=\s*(?:await\s+)?(?:this\.)?(?:clients|\w+)\.forTenant\(/g,
  /[(,]\s*(?!stripe\b)([A-Za-z_$][\w$]*)\s*:\s*Stripe\s*[,)]/g,
];

/** The Stripe calls in one source text. */
export function scanSource(source: string, file = '<source>'): { calls: ScannedCall[]; problems: string[] } {
  const text = withoutComments(source);
  const lineOf = (index: number) => text.slice(0, index).split('\n').length;
  const calls: ScannedCall[] = [];
  for (const match of text.matchAll(CALL)) {
    calls.push({ call: match[1]!.replace(/\s+/g, ''), file, line: lineOf(match.index) });
  }
  const problems: string[] = [];
  for (const pattern of OTHER_CLIENT_NAMES) {
    for (const match of text.matchAll(pattern)) {
      problems.push(`${file}:${lineOf(match.index)}: a Stripe client named "${match[1]}"; name it "stripe" so the contract scan sees its calls`);
    }
  }
  return { calls, problems };
}

/** The Stripe calls in the engine's source files (plugins/stripe/*.ts, tests excluded). */
export function scanEngine(dir: string = ENGINE_DIR): { calls: ScannedCall[]; problems: string[] } {
  const files = readdirSync(dir).filter((name) => name.endsWith('.ts') && !name.endsWith('.test.ts') && !name.endsWith('.d.ts'));
  const calls: ScannedCall[] = [];
  const problems: string[] = [];
  for (const name of files.sort()) {
    const scanned = scanSource(readFileSync(join(dir, name), 'utf8'), `plugins/stripe/${name}`);
    calls.push(...scanned.calls);
    problems.push(...scanned.problems);
  }
  return { calls, problems };
}

/** Blanks out comments (keeping line numbers), so a call named in a comment is not counted. */
function withoutComments(source: string): string {
  return source
    .replace(/\/\*[\s\S]*?\*\//g, (block) => block.replace(/[^\n]/g, ' '))
    .replace(/(^|[^:'"`\\])\/\/[^\n]*/g, (_line, before: string) => before);
}
