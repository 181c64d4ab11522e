import { z } from 'zod';
import { BILLING_CYCLES, type BillingCycle, type PolicyPricing } from '../../../domain/model';
import { InvalidAmountError, isCurrencyCode, toMinorUnitDecimal, toMinorUnits } from '../../../domain/money';
import { parseUsageRate, PRICING_MODEL_KEYS, pricingModelProperties } from './subscription-policy-pricing';
import { GatewayError } from '../../../apim/errors';
import { LIMIT_TYPES, type PolicyInput, type PolicyRecord, type QuotaLimit } from '../../../apim/model';
import { wso2Body } from '../../openapi/wso2-body';
import { storedText } from '../common';

/**
 * WSO2's `SubscriptionThrottlePolicy` as Meterline accepts it (create and update share it). The
 * quota and the monetization block are stored; the throttling-enforcement settings Meterline does
 * not keep (burst control, custom attributes, permissions, GraphQL limits, stop-on-quota,
 * subscriber count, an AI quota beside the limit) are type-checked against WSO2's schema and
 * ignored, as the gateway enforces them (see `wso2Body`); a field WSO2 does not define is refused.
 */
const timeUnit = z.enum(['sec', 'min', 'hour', 'day', 'month', 'year']);
/** QUOTA and UNIT_TIME are 32-bit INTEGER columns (as in WSO2): a larger count cannot be stored. */
const INTEGER_COLUMN_MAX = 2_147_483_647;
const count = (min: number) => z.number().int().min(min).max(INTEGER_COLUMN_MAX);
const base = { timeUnit, unitTime: count(1) };
/** Free text keeps tabs and line breaks, but not NUL, which PostgreSQL cannot store. */
const freeText = (max: number) => z.string().max(max).regex(/^[^\u0000]*$/, 'must not contain NUL characters');

/**
 * WSO2's schema allows 60 characters, but a subscription policy's name is also written to
 * AM_SUBSCRIPTION.TIER_ID and TIER_ID_PENDING and to AM_TIER_PERMISSIONS.TIER and
 * AM_THROTTLE_TIER_PERMISSIONS.TIER, each VARCHAR(50) in WSO2's apimgt scripts: a longer name
 * would make every subscription on it fail. (AM_POLICY_SUBSCRIPTION.NAME and
 * AM_API_CLIENT_CERTIFICATE.TIER_NAME hold 512, ML_API_POLICY.POLICY_NAME 512.)
 */
export const POLICY_NAME_MAX = 50;

export const subscriptionPolicyBody = wso2Body('admin', 'SubscriptionThrottlePolicy', {
  policyId: z.string().nullish(),
  policyName: z
    .string()
    .min(1)
    .max(POLICY_NAME_MAX, `must be at most ${POLICY_NAME_MAX} characters: a subscription keeps it in WSO2's TIER_ID column, VARCHAR(50)`)
    .regex(/^[A-Za-z0-9_.\- ]+$/, 'may contain letters, digits, spaces, "_", "-" and "." only'),
  displayName: storedText(512).min(1).nullish(),
  description: freeText(1024).nullish(),
  isDeployed: z.boolean().nullish(),
  type: z.literal('SubscriptionThrottlePolicy').optional(),
  defaultLimit: wso2Body('admin', 'ThrottleLimit', {
    type: z.enum(LIMIT_TYPES),
    requestCount: z.strictObject({ ...base, requestCount: count(0) }).nullish(),
    bandwidth: z.strictObject({ ...base, dataAmount: count(0), dataUnit: z.enum(['KB', 'MB', 'GB']) }).nullish(),
    eventCount: z.strictObject({ ...base, eventCount: count(0) }).nullish(),
  }).superRefine((limit, ctx) => {
    const key = ({ REQUESTCOUNTLIMIT: 'requestCount', BANDWIDTHLIMIT: 'bandwidth', EVENTCOUNTLIMIT: 'eventCount' } as const)[limit.type];
    if (limit[key] == null) ctx.addIssue({ code: 'custom', path: [key], message: `is required when type is ${limit.type}` });
  }),
  billingPlan: z.enum(['FREE', 'COMMERCIAL']).default('FREE'),
  monetization: z
    .strictObject({
      // WSO2 compares the plan case-insensitively (its own example says "FixedRate").
      monetizationPlan: z.string().transform((plan) => plan.toUpperCase()).pipe(z.enum(['FIXEDRATE', 'DYNAMICRATE'])),
      properties: z.record(z.string(), z.string()),
    })
    .nullish(),
});
export type SubscriptionPolicyBody = z.infer<typeof subscriptionPolicyBody>;

const PROPERTY_KEYS = ['fixedPrice', 'pricePerRequest', 'currencyType', 'billingCycle', ...PRICING_MODEL_KEYS] as const;
/** AM_POLICY_SUBSCRIPTION keeps prices in VARCHAR(15). */
const PRICE_WIDTH = 15;

/** The request as the API-Manager core's typed policy; money is checked exactly, never through a float. */
export function toPolicyInput(body: SubscriptionPolicyBody): PolicyInput {
  return {
    name: body.policyName,
    displayName: body.displayName ?? null,
    description: body.description ?? null,
    limit: toLimit(body.defaultLimit),
    billingPlan: body.billingPlan,
    pricing: toPricing(body),
  };
}

function toLimit(limit: SubscriptionPolicyBody['defaultLimit']): QuotaLimit {
  if (limit.type === 'BANDWIDTHLIMIT') return { type: limit.type, ...limit.bandwidth! };
  if (limit.type === 'EVENTCOUNTLIMIT') return { type: limit.type, ...limit.eventCount! };
  return { type: 'REQUESTCOUNTLIMIT', ...limit.requestCount! };
}

function toPricing(body: SubscriptionPolicyBody): PolicyPricing | null {
  const monetization = body.monetization;
  const field = (key: string) => `monetization.properties.${key}`;
  if (body.billingPlan === 'FREE') {
    if (monetization && Object.values(monetization.properties).some((v) => v.trim() !== '')) {
      throw GatewayError.invalid('monetization', 'a FREE policy cannot carry prices; set billingPlan to COMMERCIAL');
    }
    return null;
  }
  if (!monetization) throw GatewayError.invalid('monetization', 'is required for a COMMERCIAL policy');
  const properties = monetization.properties;
  const unknown = Object.keys(properties).find((key) => !(PROPERTY_KEYS as readonly string[]).includes(key));
  if (unknown !== undefined) throw GatewayError.invalid(field(unknown), `is not a monetization property (known: ${PROPERTY_KEYS.join(', ')})`);
  const value = (key: (typeof PROPERTY_KEYS)[number]) => properties[key]?.trim() ?? '';
  const invalidAmount = (key: string, check: () => unknown) => {
    try {
      check();
    } catch (error) {
      if (error instanceof InvalidAmountError) throw GatewayError.invalid(field(key), error.message);
      throw error;
    }
  };

  const currencyType = value('currencyType');
  if (!isCurrencyCode(currencyType)) throw GatewayError.invalid(field('currencyType'), 'must be a three-letter ISO currency code such as USD');
  const currency = currencyType.toLowerCase();
  const cycle = value('billingCycle').toLowerCase();
  if (!(BILLING_CYCLES as readonly string[]).includes(cycle)) throw GatewayError.invalid(field('billingCycle'), `must be one of ${BILLING_CYCLES.join(', ')}`);
  const billingCycle = cycle as BillingCycle;

  const dynamic = monetization.monetizationPlan === 'DYNAMICRATE';
  if (!dynamic) {
    const notFixed = ['pricePerRequest', 'usageModel', 'tiers', 'packageSize', 'packagePrice'] as const;
    const misplaced = notFixed.find((key) => value(key) !== '');
    if (misplaced !== undefined) throw GatewayError.invalid(field(misplaced), 'does not apply to a FIXEDRATE plan');
  }
  const price = (key: 'fixedPrice' | 'pricePerRequest' | 'setupFee', required: boolean): string | undefined => {
    const text = value(key);
    if (text === '') {
      if (required) throw GatewayError.invalid(field(key), `is required for a ${monetization.monetizationPlan} plan`);
      return undefined;
    }
    if (text.length > PRICE_WIDTH) throw GatewayError.invalid(field(key), `must be at most ${PRICE_WIDTH} characters`);
    invalidAmount(key, () => (key === 'pricePerRequest' ? toMinorUnitDecimal(text, currency) : toMinorUnits(text, currency)));
    return text;
  };
  // Either plan may charge a setup fee once, on the subscription's first invoice.
  const setupFee = price('setupFee', false);
  const once = setupFee === undefined ? {} : { setupFee };
  if (!dynamic) return { plan: 'FIXEDRATE', currency, billingCycle, fixedPrice: price('fixedPrice', true)!, ...once };
  // A DYNAMICRATE plan may also charge a base fee per cycle (fixedPrice), beside the calls, which
  // a usage model other than per_unit rates (its pricePerRequest then follows from the model).
  const usageRate = parseUsageRate((key) => value(key as (typeof PROPERTY_KEYS)[number]), currency, PRICE_WIDTH, (required) =>
    price('pricePerRequest', required),
  );
  const pricePerRequest = usageRate?.pricePerRequest ?? price('pricePerRequest', true)!;
  const baseFee = price('fixedPrice', false);
  return {
    plan: 'DYNAMICRATE',
    currency,
    billingCycle,
    pricePerRequest,
    ...(baseFee === undefined ? {} : { fixedPrice: baseFee }),
    ...once,
    ...(usageRate ? { usageRate: usageRate.rate } : {}),
  };
}

/** The policy as WSO2's `SubscriptionThrottlePolicy` response. */
export function toPolicyDto(policy: PolicyRecord) {
  const { limit, pricing } = policy;
  const { type, ...values } = limit;
  const limitKey = type === 'REQUESTCOUNTLIMIT' ? 'requestCount' : type === 'BANDWIDTHLIMIT' ? 'bandwidth' : 'eventCount';
  return {
    policyId: policy.uuid,
    policyName: policy.name,
    displayName: policy.displayName ?? policy.name,
    ...(policy.description === null ? {} : { description: policy.description }),
    isDeployed: true,
    type: 'SubscriptionThrottlePolicy',
    defaultLimit: { type, [limitKey]: values },
    billingPlan: policy.billingPlan,
    ...(pricing
      ? {
          monetization: {
            monetizationPlan: pricing.plan,
            properties: {
              ...(pricing.fixedPrice === undefined ? {} : { fixedPrice: pricing.fixedPrice }),
              ...(pricing.plan === 'DYNAMICRATE' ? { pricePerRequest: pricing.pricePerRequest } : {}),
              currencyType: pricing.currency.toUpperCase(),
              billingCycle: pricing.billingCycle,
              ...pricingModelProperties(pricing),
            },
          },
        }
      : {}),
  };
}
