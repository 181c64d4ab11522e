/**
 * MyFatoorah has no subscriptions: Meterline's subscription is the one it bills, named in
 * MyFatoorah by the invoices' UserDefinedField. Its engine subscription id is derived from the
 * Meterline subscription's UUID, so it is the same however often it is made.
 */
export function engineSubscriptionIdOf(subscriptionUuid: string): string {
  return `mf:${subscriptionUuid}`;
}
