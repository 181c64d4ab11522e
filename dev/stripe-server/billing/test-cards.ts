/**
 * Stripe's documented test cards, as far as this server distinguishes them:
 * brand, last four digits and whether charges decline.
 */
export interface TestCard {
  brand: string;
  last4: string;
  funding: 'credit' | 'debit';
  declines: boolean;
  /** Every charge needs 3-D Secure: it waits for the customer (`requires_action`) instead of succeeding. */
  requiresAuthentication?: boolean;
}

const VISA: TestCard = { brand: 'visa', last4: '4242', funding: 'credit', declines: false };
const MASTERCARD: TestCard = { brand: 'mastercard', last4: '4444', funding: 'credit', declines: false };
const AMEX: TestCard = { brand: 'amex', last4: '8431', funding: 'credit', declines: false };
const DECLINED: TestCard = { brand: 'visa', last4: '0002', funding: 'credit', declines: true };
const INSUFFICIENT: TestCard = { brand: 'visa', last4: '9995', funding: 'credit', declines: true };
/**
 * Cards whose every payment needs 3-D Secure authentication ("This card requires authentication
 * on all transactions", https://docs.stripe.com/testing#regulatory-cards). This server cannot
 * authenticate by itself: a charge waits for the customer (decline code `authentication_required`,
 * event `invoice.payment_action_required`), so a subscription's first invoice stays open and the
 * subscription `incomplete` until the customer authenticates (the test control
 * `payments.completeAuthentication`) or pays another way (Stripe: "A successful payment
 * needs to be made within 23 hours to activate the subscription. Or the payment requires action,
 * like customer authentication", https://docs.stripe.com/billing/subscriptions/overview#payment-status).
 */
const THREE_D_SECURE_2: TestCard = { brand: 'visa', last4: '3220', funding: 'credit', declines: false, requiresAuthentication: true };
const AUTHENTICATION_REQUIRED: TestCard = { brand: 'visa', last4: '3184', funding: 'credit', declines: false, requiresAuthentication: true };

/** Magic ids usable as a PaymentMethod (`pm_card_visa`) or token (`tok_visa`). */
const MAGIC: Record<string, TestCard> = {
  visa: VISA,
  mastercard: MASTERCARD,
  amex: AMEX,
  chargeDeclined: DECLINED,
  visa_chargeDeclined: DECLINED,
  chargeDeclinedInsufficientFunds: INSUFFICIENT,
  threeDSecure2Required: THREE_D_SECURE_2,
  authenticationRequired: AUTHENTICATION_REQUIRED,
};

const NUMBERS: Record<string, TestCard> = {
  '4242424242424242': VISA,
  '5555555555554444': MASTERCARD,
  '378282246310005': AMEX,
  '4000000000000002': DECLINED,
  '4000000000009995': INSUFFICIENT,
  '4000000000003220': THREE_D_SECURE_2,
  '4000002760003184': AUTHENTICATION_REQUIRED,
};

/** `pm_card_visa` → the Visa test card; undefined for anything else. */
export function cardForMagicPaymentMethod(id: string): TestCard | undefined {
  return id.startsWith('pm_card_') ? MAGIC[id.slice('pm_card_'.length)] : undefined;
}

/** `tok_visa` → the Visa test card; undefined for anything else. */
export function cardForToken(token: string): TestCard | undefined {
  return token.startsWith('tok_') ? MAGIC[token.slice('tok_'.length)] : undefined;
}

export function cardForNumber(number: string): TestCard | undefined {
  return NUMBERS[number.replace(/\s+/g, '')];
}
