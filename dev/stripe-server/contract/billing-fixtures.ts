import Stripe from 'stripe';

/** A customer with a default Visa card, as Meterline sets up a paying subscriber. */
export async function payingCustomer(stripe: Stripe, options: Stripe.RequestOptions = {}): Promise<Stripe.Customer> {
  const customer = await stripe.customers.create({ payment_method: 'pm_card_visa' }, options);
  const [pm] = (await stripe.customers.listPaymentMethods(customer.id, {}, options)).data;
  return stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: pm?.id } }, options);
}

/** A monthly licensed price (`amount` minor units) on a new product. */
export async function monthlyPrice(stripe: Stripe, amount: number, currency = 'usd', options: Stripe.RequestOptions = {}): Promise<Stripe.Price> {
  const product = await stripe.products.create({ name: `Plan ${amount} ${currency}` }, options);
  return stripe.prices.create({ product: product.id, currency, unit_amount: amount, recurring: { interval: 'month' } }, options);
}

/** A metered monthly price at `unitDecimal` minor units per unit, backed by a new sum meter for `eventName`. */
export async function meteredPrice(
  stripe: Stripe,
  eventName: string,
  unitDecimal: string,
  options: Stripe.RequestOptions = {},
): Promise<{ price: Stripe.Price; meter: Stripe.Billing.Meter }> {
  const meter = await stripe.billing.meters.create(
    { display_name: eventName, event_name: eventName, default_aggregation: { formula: 'sum' } },
    options,
  );
  const product = await stripe.products.create({ name: `Usage ${eventName}` }, options);
  const price = await stripe.prices.create(
    {
      product: product.id,
      currency: 'usd',
      unit_amount_decimal: Stripe.Decimal.from(unitDecimal),
      recurring: { interval: 'month', usage_type: 'metered', meter: meter.id },
    },
    options,
  );
  return { price, meter };
}

export async function reportUsage(
  stripe: Stripe,
  eventName: string,
  customer: string,
  value: number,
  timestamp: number,
  options: Stripe.RequestOptions = {},
): Promise<void> {
  await stripe.billing.meterEvents.create(
    { event_name: eventName, payload: { stripe_customer_id: customer, value: String(value) }, timestamp },
    options,
  );
}

export async function latestInvoice(stripe: Stripe, subscription: Stripe.Subscription, options: Stripe.RequestOptions = {}): Promise<Stripe.Invoice> {
  const id = subscription.latest_invoice;
  if (typeof id !== 'string') throw new Error('subscription has no latest invoice');
  return stripe.invoices.retrieve(id, {}, options);
}
