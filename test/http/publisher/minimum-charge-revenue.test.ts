import { fixedPriceSubscription, forEachBillingHarness } from '../../helpers/billing-harness';
import { DEVPORTAL, PUBLISHER } from '../../helpers/rest-harness';

/**
 * An invoice below Stripe's minimum charge (USD 0.50: https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts)
 * is marked paid with nothing charged, and its amount becomes a debit on the customer's balance,
 * collected with the customer's next invoice (https://docs.stripe.com/api/invoices/object,
 * https://docs.stripe.com/billing/customer/balance; the local server models it). Over HTTP,
 * Meterline's revenue counts only what was collected, says what was carried, and its invoice
 * records show the first invoice paid with 0.00 collected and 0.30 carried to the balance, and the
 * next collecting both periods (0.30 of it from the balance).
 */
forEachBillingHarness({ holdUntilPaid: true, graceDays: 3 }, (harness, _kind, stripeServer) => {
  it('a 0.30 USD plan: nothing collected and 0.30 carried, then 0.60 collected with the renewal', async () => {
    const { subscriptionId, apiId, account, subscriber, publisher } = await fixedPriceSubscription(harness(), { price: '0.30' });
    // Stripe sends a send_invoice subscription's first invoice an hour after the create (https://docs.stripe.com/subscriptions/invoices).
    stripeServer().clock.advance(3_600);
    await stripeServer().webhooks.flush();
    const revenue = async () => (await harness().call('GET', `${PUBLISHER}/apis/${apiId}/revenue`, publisher)).body.properties;
    const invoices = async () => (await harness().call('GET', `${DEVPORTAL}/subscriptions/${subscriptionId}/invoices`, subscriber)).body.list;

    expect(await revenue()).toEqual({
      'Total Revenue (USD)': '0.00',
      [`Revenue for subscription ID : ${subscriptionId} (USD)`]: '0.00',
      'Carried to Customer Balance (USD)': '0.30',
    });
    expect(await invoices()).toEqual([
      expect.objectContaining({ status: 'PAID', total: '0.30', amountDue: '0.00', amountPaid: '0.00', amountRemaining: '0.00', carriedToBalance: '0.30', collectedFromBalance: '0.00' }),
    ]);
    // The first invoice is settled: the subscription held until it was paid is released.
    const gateway = harness().token('gateway', ['apim:usage_ingest']);
    expect((await harness().call('GET', `/api/am/usage/v1/subscriptions/${subscriptionId}/access`, gateway)).body).toMatchObject({ allowed: true });

    const [stripeSubscription] = (await harness().platform.subscriptions.list({ limit: 1 }, { stripeAccount: account })).data;
    const periodEnd = stripeSubscription!.items.data[0]!.current_period_end;
    stripeServer().clock.advanceTo(periodEnd + 2 * 3600);
    const [renewal] = (await harness().platform.invoices.list({ subscription: stripeSubscription!.id, status: 'open' }, { stripeAccount: account })).data;
    expect(renewal).toMatchObject({ total: 30, starting_balance: 30, amount_due: 60 });
    await harness().platform.invoices.pay(renewal!.id!, { paid_out_of_band: true }, { stripeAccount: account });
    await stripeServer().webhooks.flush();

    expect(await revenue()).toEqual({
      'Total Revenue (USD)': '0.60',
      [`Revenue for subscription ID : ${subscriptionId} (USD)`]: '0.60',
      'Carried to Customer Balance (USD)': '0.30',
      'Collected from Customer Balance (USD)': '0.30',
    });
    const records = await invoices();
    expect(records).toHaveLength(2);
    expect(records).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ invoiceId: renewal!.id, status: 'PAID', total: '0.30', amountDue: '0.60', amountPaid: '0.60', carriedToBalance: '0.00', collectedFromBalance: '0.30' }),
        expect.objectContaining({ status: 'PAID', total: '0.30', amountDue: '0.00', amountPaid: '0.00', carriedToBalance: '0.30', collectedFromBalance: '0.00' }),
      ]),
    );
  });
});
