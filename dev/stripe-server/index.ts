/**
 * Meterline's Stripe-compatible test server (test and demo infrastructure
 * only; production code must never import it). See docs/stripe-server.md.
 *
 * @example
 * const server = await startStripeServer();
 * const stripe = new Stripe('sk_test_platform', {
 *   host: server.host, port: server.port, protocol: 'http', maxNetworkRetries: 0,
 * });
 * await stripe.products.create({ name: 'Gold' });
 * server.clock.advance(31 * 86_400);
 * await server.webhooks.flush();
 * await server.close();
 */
export { startStripeServer, type StripeServer, type StripeServerOptions } from './server';
export type { StripeServerControls } from './controls';
export type { FaultKind, FaultRule } from './faults/faults';
export type { RequestMatcher } from './faults/match';
export type { RateLimitConfig } from './faults/rate-limit';
export type { FailNextInput } from './billing/payments';
export { DEFAULT_AGGREGATION_DELAY_SECONDS, DEFAULT_FINALIZATION_GRACE_SECONDS } from './billing/usage';
export type { LoggedRequest } from './request-log';
export type { DeliveryRecord, PendingDelivery } from './webhooks/dispatcher';
export type { Wire, WireEvent, WireList } from './wire';
