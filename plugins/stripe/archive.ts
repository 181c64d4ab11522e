import type Stripe from 'stripe';
import { callStripe, isResourceMissing } from './stripe.errors';

/**
 * Archiving instead of deleting: Stripe keeps prices that invoices refer to, and an archived
 * object can be reactivated when a plan comes back. An object that is already gone counts as
 * archived, so these are safe to retry.
 */
export async function archivePrice(stripe: Stripe, priceId: string, account?: string): Promise<void> {
  await ignoreMissing(() =>
    callStripe('archive a price', { priceId, account }, () =>
      stripe.prices.update(priceId, { active: false }, accountOption(account)),
    ),
  );
}

export async function archiveProduct(stripe: Stripe, productId: string, account?: string): Promise<void> {
  await ignoreMissing(() =>
    callStripe('archive a product', { productId, account }, () =>
      stripe.products.update(productId, { active: false }, accountOption(account)),
    ),
  );
}

/** Brings back a price or product that an idempotent create replayed in its archived state. */
export async function reactivatePrice(stripe: Stripe, price: Stripe.Price, account?: string): Promise<Stripe.Price> {
  if (price.active) return price;
  return callStripe('reactivate a price', { priceId: price.id, account }, () =>
    stripe.prices.update(price.id, { active: true }, accountOption(account)),
  );
}

export async function reactivateProduct(stripe: Stripe, product: Stripe.Product, account?: string): Promise<Stripe.Product> {
  if (product.active) return product;
  return callStripe('reactivate a product', { productId: product.id, account }, () =>
    stripe.products.update(product.id, { active: true }, accountOption(account)),
  );
}

export function accountOption(account: string | undefined): { stripeAccount?: string } {
  return account ? { stripeAccount: account } : {};
}

async function ignoreMissing(action: () => Promise<unknown>): Promise<void> {
  try {
    await action();
  } catch (error) {
    if (!isResourceMissing(error)) throw error;
  }
}
