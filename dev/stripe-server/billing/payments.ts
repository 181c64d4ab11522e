/**
 * Simulated card payments.
 *
 * Every charge succeeds unless the payment method was made from a declining
 * test card (`pm_card_chargeDeclined`, `tok_chargeDeclined`, number
 * 4000000000000002) or a test armed `failNext` for its customer or payment
 * method. No money moves; there are no PaymentIntents or Charges.
 */
export interface FailNextInput {
  /** A customer id (any account): its next payments fail. */
  customer?: string;
  /** A payment method id (any account): its next payments fail. */
  paymentMethod?: string;
  /** How many payments fail before they succeed again (default 1). */
  count?: number;
  /** Stripe's decline code to report (default `generic_decline`). */
  declineCode?: string;
}

/** `actionRequired`: the payment waits for the customer's authentication (3-D Secure), not declined. */
export type PaymentOutcome = { ok: true } | { ok: false; declineCode: string; actionRequired?: boolean };

interface Armed {
  remaining: number;
  declineCode: string;
}

export class PaymentSimulator {
  private readonly armed = new Map<string, Armed>();

  failNext(input: FailNextInput): void {
    const target = input.paymentMethod ?? input.customer;
    if (!target) throw new TypeError('failNext needs a customer or a paymentMethod');
    this.armed.set(target, { remaining: input.count ?? 1, declineCode: input.declineCode ?? 'generic_decline' });
  }

  /** Decides one payment attempt and consumes an armed failure if one applies. */
  attempt(customerId: string, paymentMethodId: string, cardDeclines: boolean): PaymentOutcome {
    if (cardDeclines) return { ok: false, declineCode: 'generic_decline' };
    for (const key of [paymentMethodId, customerId]) {
      const armed = this.armed.get(key);
      if (armed && armed.remaining > 0) {
        armed.remaining -= 1;
        if (armed.remaining === 0) this.armed.delete(key);
        return { ok: false, declineCode: armed.declineCode };
      }
    }
    return { ok: true };
  }

  reset(): void {
    this.armed.clear();
  }
}
