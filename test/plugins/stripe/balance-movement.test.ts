import { balanceMovement } from '../../../plugins/stripe/invoices.service';

/**
 * An invoice's part in the customer's debit balance, from Stripe's starting/ending balances
 * (total + starting_balance = amount_due + ending_balance; https://docs.stripe.com/billing/customer/balance).
 */
describe('balanceMovement', () => {
  it.each([
    ['below the minimum: its 30 carried', 0, 30, { carried: 30n, collected: 0n }],
    ['below the minimum again: its own 20 carried on top of an earlier 20', 20, 40, { carried: 20n, collected: 0n }],
    ['the renewal collects an earlier 30', 30, 0, { carried: 0n, collected: 30n }],
    ['a credit reduces the amount due: nothing carried or collected', -1500, -500, { carried: 0n, collected: 0n }],
    ['a credit covers part and the rest (30) is below the minimum', -10, 30, { carried: 30n, collected: 0n }],
    ['not finalized yet (ending_balance null)', 0, null, { carried: 0n, collected: 0n }],
  ])('%s', (_label, starting, ending, expected) => {
    expect(balanceMovement({ starting_balance: starting, ending_balance: ending })).toEqual(expected);
  });
});
