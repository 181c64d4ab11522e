import { randomUUID } from 'node:crypto';
import type { Logger } from '../../src/logger';
import { MonetizationError, type EngineDelivery, type EngineDeliveryLog, type EngineDeliveryStatus, type TenantDirectory } from '../../src/monetization/monetization';
import { INTEGRATION_URL_KEY, SIGNING_SECRET_KEY } from './capabilities';
import type { HttpIntegrationOptions } from './http-integration.options';
import type { DeliveryRow, HttpIntegrationRepository } from './http-integration.repository';
import type { AsyncOperation, Operation, SyncOperation } from './protocol';
import { signedHeaders } from './signature';

/** One request to send: what it is, its `webhook-id`, its data. */
export interface Message<O extends Operation = Operation> {
  tenantDomain: string;
  operation: O;
  messageId: string;
  data: Record<string, unknown>;
  /** The Meterline subscription it concerns (usage reports and deletions: the outbox orders them). */
  subscriptionUuid?: string;
  usage?: { quantity: number; windowStart: Date };
}

type Attempt = { ok: true; answer: unknown } | { ok: false; retryable: boolean; error: string };

/** Outbox deliveries sent per run, oldest first. */
const RUN_BATCH = 100;

/**
 * Sends the engine's requests to the tenant's integration and keeps the delivery log
 * (ML_INTEGRATION_DELIVERY). Synchronous operations are sent at once, re-sent quickly a few times
 * on a network error, a timeout, a 429 or a 5xx, and a failure is a MonetizationError (the
 * core's workflows retry); asynchronous ones are put in the outbox and sent by `runDue`, with
 * exponential backoff between attempts, DEAD after the last. Every attempt sends the body first
 * recorded, under the same `webhook-id`, with a fresh timestamp and signature.
 */
export class Deliveries implements EngineDeliveryLog {
  constructor(
    private readonly repository: HttpIntegrationRepository,
    private readonly options: HttpIntegrationOptions,
    private readonly tenants: TenantDirectory,
    private readonly clock: () => Date,
    private readonly logger: Logger,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  ) {}

  /** The tenant's integration URL and signing secret; a tenant without them is refused (BILLING_NOT_CONFIGURED). */
  target(tenantDomain: string): { url: string; secret: string } {
    const secrets = this.tenants.find(tenantDomain)?.secrets ?? {};
    const url = secrets[INTEGRATION_URL_KEY];
    const secret = secrets[SIGNING_SECRET_KEY];
    if (!url || !secret) {
      throw new MonetizationError(
        'BILLING_NOT_CONFIGURED',
        `tenant ${tenantDomain} has no billing integration: set ${INTEGRATION_URL_KEY} and ${SIGNING_SECRET_KEY} in its [tenants.monetization_info]`,
        { tenant: tenantDomain },
      );
    }
    return { url, secret };
  }

  /** Sends a synchronous operation and answers the integration's JSON answer; a failure throws a MonetizationError. */
  async send(message: Message<SyncOperation>): Promise<Record<string, unknown>> {
    this.target(message.tenantDomain);
    const { row } = await this.repository.insertDelivery(this.newDelivery(message, 'sync'), 'PENDING', null);
    let attempts = row.attempts;
    let last: Attempt = { ok: false, retryable: true, error: 'not sent' };
    for (let i = 0; i <= this.options.syncRetries; i += 1) {
      if (i > 0) await this.sleep(this.options.syncRetryDelayMs * 2 ** (i - 1));
      last = await this.attempt(row);
      attempts += 1;
      if (last.ok) {
        const answer = last.answer;
        if (answer !== null && typeof answer === 'object' && !Array.isArray(answer)) {
          await this.repository.recordAttempt(row.id, { status: 'DELIVERED', attempts, nextAttemptAt: null, lastError: null, deliveredAt: this.clock() });
          return answer as Record<string, unknown>;
        }
        last = { ok: false, retryable: false, error: 'the answer is not a JSON object' };
      }
      if (!last.retryable) break;
    }
    await this.repository.recordAttempt(row.id, { status: 'FAILED', attempts, nextAttemptAt: null, lastError: last.error, deliveredAt: null });
    throw new MonetizationError(last.retryable ? 'ENGINE_UNAVAILABLE' : 'ENGINE_REJECTED', `the billing integration did not accept ${message.operation}: ${last.error}`, {
      tenant: message.tenantDomain,
      operation: message.operation,
      deliveryId: row.id,
    });
  }

  /** Puts an asynchronous operation in the outbox (once per message id), due now. */
  async enqueue(message: Message<AsyncOperation>): Promise<void> {
    this.target(message.tenantDomain);
    await this.repository.insertDelivery(this.newDelivery(message, 'async'), 'PENDING', this.clock());
  }

  /**
   * Sends the outbox's due deliveries, each claimed first (safe with several processes). A
   * `subscription.deleted` waits while usage reports of its subscription are still to be
   * delivered, so the integration's final invoice has them.
   */
  async runDue(): Promise<void> {
    const now = this.clock();
    for (const row of await this.repository.due(now, RUN_BATCH)) {
      if (row.operation === 'subscription.deleted' && row.subscriptionUuid && (await this.repository.usageInFlight(row.subscriptionUuid))) continue;
      if (!(await this.repository.claim(row, new Date(now.getTime() + 2 * this.options.timeoutMs)))) continue;
      await this.deliverOnce(row);
    }
  }

  async list(tenantDomain: string, filter: { status?: EngineDeliveryStatus; limit: number; offset: number }): Promise<{ total: number; list: EngineDelivery[] }> {
    const found = await this.repository.list(tenantDomain, filter);
    return { total: found.total, list: found.list.map(withoutBody) };
  }

  async replay(tenantDomain: string, deliveryId: string): Promise<{ outcome: 'replayed'; delivery: EngineDelivery } | { outcome: 'notFound' } | { outcome: 'conflict'; message: string }> {
    const row = await this.repository.delivery(deliveryId);
    if (!row || row.tenantDomain !== tenantDomain) return { outcome: 'notFound' };
    if (row.mode === 'sync') {
      return { outcome: 'conflict', message: `${row.operation} is answered while the operation waits: do the operation again (e.g. save the policy, subscribe again) instead` };
    }
    if (row.status === 'DELIVERED') return { outcome: 'conflict', message: `delivery ${row.id} was delivered` };
    const fresh: DeliveryRow = { ...row, status: 'PENDING', attempts: 0, nextAttemptAt: this.clock(), lastError: null };
    await this.repository.recordAttempt(row.id, { status: 'PENDING', attempts: 0, nextAttemptAt: fresh.nextAttemptAt, lastError: null, deliveredAt: null });
    await this.deliverOnce(fresh);
    return { outcome: 'replayed', delivery: withoutBody((await this.repository.delivery(row.id))!) };
  }

  /** One attempt of an outbox delivery and its outcome: DELIVERED, FAILED with the next attempt backed off, or DEAD. */
  private async deliverOnce(row: DeliveryRow): Promise<void> {
    const result = await this.attempt(row);
    const attempts = row.attempts + 1;
    const now = this.clock();
    if (result.ok) {
      await this.repository.recordAttempt(row.id, { status: 'DELIVERED', attempts, nextAttemptAt: null, lastError: null, deliveredAt: now });
      return;
    }
    const dead = attempts >= this.options.maxAttempts;
    const waitMs = Math.min(this.options.retryBaseMs * 2 ** (attempts - 1), this.options.retryMaxMs);
    await this.repository.recordAttempt(row.id, {
      status: dead ? 'DEAD' : 'FAILED',
      attempts,
      nextAttemptAt: dead ? null : new Date(now.getTime() + waitMs),
      lastError: result.error,
      deliveredAt: null,
    });
    if (dead) this.logger.warn({ tenant: row.tenantDomain, delivery: row.id, operation: row.operation, error: result.error }, 'billing integration delivery is dead; an admin may replay it');
  }

  /** POSTs the recorded body, signed now. Never throws: a failure is a value. */
  private async attempt(row: DeliveryRow): Promise<Attempt> {
    let target;
    try {
      target = this.target(row.tenantDomain);
    } catch (error) {
      return { ok: false, retryable: true, error: (error as Error).message };
    }
    try {
      const response = await fetch(target.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'Meterline', ...signedHeaders(target.secret, row.messageId, this.clock(), row.body) },
        body: row.body,
        signal: AbortSignal.timeout(this.options.timeoutMs),
        redirect: 'manual',
      });
      const text = await response.text();
      if (response.status < 200 || response.status >= 300) {
        return { ok: false, retryable: response.status === 429 || response.status >= 500 || response.status === 408, error: `HTTP ${response.status}${text ? `: ${text.slice(0, 300)}` : ''}` };
      }
      if (text.trim() === '') return { ok: true, answer: null };
      try {
        return { ok: true, answer: JSON.parse(text) as unknown };
      } catch {
        return { ok: true, answer: text };
      }
    } catch (error) {
      return { ok: false, retryable: true, error: `no answer: ${(error as Error).message}` };
    }
  }

  private newDelivery(message: Message, mode: 'sync' | 'async') {
    const body = JSON.stringify({ type: message.operation, timestamp: this.clock().toISOString(), data: message.data });
    return {
      id: randomUUID(),
      tenantDomain: message.tenantDomain,
      operation: message.operation,
      messageId: message.messageId,
      mode,
      body,
      createdAt: this.clock(),
      ...(message.subscriptionUuid ? { subscriptionUuid: message.subscriptionUuid } : {}),
      ...(message.usage ? { usage: message.usage } : {}),
    };
  }
}

function withoutBody(row: DeliveryRow): EngineDelivery {
  const { body: _body, subscriptionUuid: _subscription, ...delivery } = row;
  return delivery;
}
