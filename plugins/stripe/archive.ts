import type Stripe from 'stripe';
import { callStripe, findInStripe } from './stripe.errors';

/**
 * Archiving instead of deleting: Stripe keeps prices that invoices refer to, and an archived
 * object can be reactivated when a plan comes back. An object that is already gone counts as
 * archived, so these are safe to retry.
 */
export async function archivePrice(stripe: Stripe, priceId: string, account?: string): Promise<void> {
  await findInStripe('archive a price', { priceId, account }, () => stripe.prices.update(priceId, { active: false }, accountOption(account)));
}

export async function archiveProduct(stripe: Stripe, productId: string, account?: string): Promise<void> {
  await findInStripe('archive a product', { productId, account }, () =>
    stripe.products.update(productId, { active: false }, accountOption(account)),
  );
}

/**
 * Makes sure a price is active. An idempotent create that Stripe replayed returns the object as
 * it was first created, not as it is now (it may have been archived since), so a replayed
 * answer is re-read before it is trusted.
 */
export async function reactivatePrice(stripe: Stripe, price: Stripe.Response<Stripe.Price> | Stripe.Price, account?: string): Promise<Stripe.Price> {
  const current = wasReplayed(price)
    ? await callStripe('retrieve a price', { priceId: price.id, account }, () => stripe.prices.retrieve(price.id, {}, accountOption(account)))
    : price;
  if (current.active) return current;
  return callStripe('reactivate a price', { priceId: price.id, account }, () =>
    stripe.prices.update(price.id, { active: true }, accountOption(account)),
  );
}

/** As {@link reactivatePrice}, for products. */
export async function reactivateProduct(
  stripe: Stripe,
  product: Stripe.Response<Stripe.Product> | Stripe.Product,
  account?: string,
): Promise<Stripe.Product> {
  const current = wasReplayed(product)
    ? await callStripe('retrieve a product', { productId: product.id, account }, () =>
        stripe.products.retrieve(product.id, {}, accountOption(account)),
      )
    : product;
  if (current.active) return current;
  return callStripe('reactivate a product', { productId: product.id, account }, () =>
    stripe.products.update(product.id, { active: true }, accountOption(account)),
  );
}

function wasReplayed(object: object): boolean {
  const response = (object as Partial<Stripe.Response<object>>).lastResponse;
  return response?.headers?.['idempotent-replayed'] === 'true';
}

export function accountOption(account: string | undefined): { stripeAccount?: string } {
  return account ? { stripeAccount: account } : {};
}

/**
 * The product an earlier attempt created with this metadata, for a create whose key Stripe holds a
 * saved server error for (see `sendPastStoredErrors`). Products cannot be listed by metadata, so
 * the account's products are read; this runs only on that rare path.
 */
export async function findProduct(stripe: Stripe, metadata: Record<string, string>, account?: string): Promise<Stripe.Product | undefined> {
  for await (const product of stripe.products.list({ limit: 100 }, accountOption(account))) {
    if (hasMetadata(product, metadata)) return product;
  }
  return undefined;
}

/** As {@link findProduct}, for a price of `params.product` with the same metadata that `matches`. */
export async function findPrice(
  stripe: Stripe,
  params: Stripe.PriceCreateParams,
  matches: (price: Stripe.Price) => boolean,
  account?: string,
): Promise<Stripe.Price | undefined> {
  if (typeof params.product !== 'string') return undefined;
  // Tiers are listed only when expanded (`data.tiers`), and a tiered price is compared by them.
  for await (const price of stripe.prices.list({ product: params.product, limit: 100, expand: ['data.tiers'] }, accountOption(account))) {
    if (hasMetadata(price, params.metadata ?? {}) && matches(price)) return price;
  }
  return undefined;
}

function hasMetadata(object: { metadata: Stripe.Metadata | null }, wanted: Record<string, unknown>): boolean {
  return Object.entries(wanted).every(([key, value]) => object.metadata?.[key] === value);
}
