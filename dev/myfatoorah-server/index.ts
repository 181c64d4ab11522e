/**
 * Meterline's MyFatoorah-compatible test server (test and demo infrastructure only; production
 * code must never import it). See docs/myfatoorah-server.md.
 *
 * @example
 * const server = await startMyFatoorahServer({
 *   accounts: [{ token: 'mf_test_kwt', country: 'KWT', webhook: { url: 'http://127.0.0.1:9000/hook', secret: 's3cret' } }],
 * });
 * // POST `${server.url}/v2/SendPayment` with `Authorization: Bearer mf_test_kwt` ...
 * server.invoices.pay(invoiceId);
 * await server.webhooks.flush();
 * await server.close();
 */
export { startMyFatoorahServer, type MyFatoorahServer, type MyFatoorahServerOptions } from './server';
export type { MyFatoorahServerControls, AttemptResult, LoggedRequest } from './controls';
export type { AccountConfig, Account, WebhookSettings, CountryIso } from './accounts';
export { COUNTRIES, MAX_WEBHOOK_RETRIES, MAX_WEBHOOK_RETRY_DELAY_SECONDS } from './accounts';
export { SIGNED_FIELDS, signedString, signWebhookEvent, verifyWebhookSignature } from './signature';
export type { FaultKind, FaultRule } from './faults';
export type { DeliveryAttempt, DeliveryRecord, WebhookEventV2 } from './webhooks';
export { DEFAULT_EXPIRY_DAYS } from './api';
