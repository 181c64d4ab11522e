import { z } from 'zod';
import { EngineOptionsError, type TenantDirectory } from '../../src/monetization/monetization';
import { fieldProblems } from '../../src/validation/issues';
import { ACCOUNT_KIND_KEY } from './capabilities';

/** `subscription.created`'s `account.kind` (docs/custom-billing.md "Accounts"). */
export const ACCOUNT_KINDS = ['user', 'team', 'org'] as const;
export type AccountKind = (typeof ACCOUNT_KINDS)[number];

/** A tenant's account kind: its `integration_account_kind`, else `user`. */
export function accountKindOf(tenants: TenantDirectory, tenantDomain: string): AccountKind {
  const kind = tenants.find(tenantDomain)?.secrets[ACCOUNT_KIND_KEY];
  return (ACCOUNT_KINDS as readonly string[]).includes(kind ?? '') ? (kind as AccountKind) : 'user';
}

/** `tenant acme.com: monetization_info.integration_account_kind: "group" is not one of user, team, org` per tenant set wrong. */
export function tenantAccountKindProblems(tenants: TenantDirectory): string[] {
  return (tenants.all?.() ?? []).flatMap((tenant) => {
    const kind = tenant.secrets[ACCOUNT_KIND_KEY];
    return kind === undefined || (ACCOUNT_KINDS as readonly string[]).includes(kind)
      ? []
      : [`tenant ${tenant.domain}: monetization_info.${ACCOUNT_KIND_KEY}: ${JSON.stringify(kind)} is not one of ${ACCOUNT_KINDS.join(', ')}`];
  });
}

/** `[apim.monetization.http-integration]`, every key optional. */
export const httpIntegrationOptionsSchema = z.strictObject({
  /** One request's time limit (ms). Default 10000. */
  timeout_ms: z.number().int().min(100).max(120_000).default(10_000),
  /** Quick re-sends of a synchronous operation (the caller waits). Default 2. */
  sync_retries: z.number().int().min(0).max(5).default(2),
  /** The first wait before a quick re-send (ms), doubling each time. Default 200. */
  sync_retry_delay_ms: z.number().int().min(1).max(10_000).default(200),
  /** How often `meterline serve` sends the outbox's due deliveries (seconds). Default 15. */
  outbox_interval_seconds: z.number().int().min(1).max(3600).default(15),
  /** The wait after a delivery's first failed attempt (seconds); each further one doubles. Default 30. */
  outbox_retry_base_seconds: z.number().int().min(1).max(3600).default(30),
  /** The longest wait between attempts (seconds). Default 3600. */
  outbox_retry_max_seconds: z.number().int().min(1).max(86_400).default(3600),
  /** Attempts of an outbox delivery before it is DEAD (a dead letter an admin replays). Default 8. */
  outbox_max_attempts: z.number().int().min(1).max(50).default(8),
});

export interface HttpIntegrationOptions {
  timeoutMs: number;
  syncRetries: number;
  syncRetryDelayMs: number;
  outboxIntervalMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  maxAttempts: number;
}

export function parseHttpIntegrationOptions(raw: unknown): HttpIntegrationOptions {
  const result = httpIntegrationOptionsSchema.safeParse(raw ?? {});
  if (!result.success) {
    const where = ['apim', 'monetization', 'http-integration'];
    const problems = fieldProblems(result.error.issues, { whole: where.join('.'), at: where, unknownKey: 'unknown key' }).map((p) => `${p.field}: ${p.message}`);
    throw new EngineOptionsError(`invalid HTTP integration options: ${problems.join('; ')}`);
  }
  const o = result.data;
  return {
    timeoutMs: o.timeout_ms,
    syncRetries: o.sync_retries,
    syncRetryDelayMs: o.sync_retry_delay_ms,
    outboxIntervalMs: o.outbox_interval_seconds * 1000,
    retryBaseMs: o.outbox_retry_base_seconds * 1000,
    retryMaxMs: o.outbox_retry_max_seconds * 1000,
    maxAttempts: o.outbox_max_attempts,
  };
}
