import { z } from 'zod';
import { ignoredFields, wso2Body } from '../../../src/http/openapi/wso2-body';

/** The shared mechanism (src/http/openapi/wso2-body.ts) on WSO2's devportal schemas. */
describe('wso2Body', () => {
  const body = wso2Body('devportal', 'Application', { name: z.string().min(1), throttlingPolicy: z.string().min(1) });
  const problems = (input: unknown) => {
    const result = body.safeParse(input);
    return result.success ? [] : result.error.issues.map((issue) => `${[...issue.path, ...('keys' in issue ? issue.keys : [])].join('.')}: ${issue.code}`);
  };

  it("accepts the fields of WSO2's schema Meterline does not use, type-checked", () => {
    expect(problems({ name: 'a', throttlingPolicy: 'Unlimited', tokenType: 'OAUTH', groups: ['g1'], attributes: { k: 'v' }, visibility: 'PRIVATE' })).toEqual([]);
    // Read-only fields a client sends back are accepted too (and ignored).
    expect(problems({ name: 'a', throttlingPolicy: 'Unlimited', applicationId: 'x', status: 'APPROVED', subscriptionCount: 0, keys: [], owner: 'sam', hashEnabled: false })).toEqual([]);
  });

  it("refuses a wrong type or value, and a field outside WSO2's schema, naming it", () => {
    expect(problems({ name: 'a', throttlingPolicy: 'U', tokenType: 'SAML' })).toEqual(['tokenType: invalid_value']);
    expect(problems({ name: 'a', throttlingPolicy: 'U', groups: 'g1' })).toEqual(['groups: invalid_type']);
    expect(problems({ name: 'a', throttlingPolicy: 'U', attributes: { k: 1 } })).toEqual(['attributes.k: invalid_type']);
    expect(problems({ name: 'a', throttlingPolicy: 'U', description: 'x'.repeat(513) })).toEqual(['description: too_big']);
    expect(problems({ name: 'a', throttlingPolicy: 'U', colour: 'red' })).toEqual(['colour: unrecognized_keys']);
    expect(problems({ name: 'a', throttlingPolicy: 'U', subscriptionScopes: [{ key: 'k', nope: 1 }] })).toEqual(['subscriptionScopes.0.nope: unrecognized_keys']);
  });

  it('names the ignored fields', () => {
    const used = { applicationId: z.string(), apiId: z.string(), throttlingPolicy: z.string() };
    expect(ignoredFields('devportal', 'Subscription', used)).toEqual(['apiInfo', 'applicationInfo', 'redirectionParams', 'requestedThrottlingPolicy', 'status', 'subscriptionId']);
  });

  it("follows allOf into inherited fields (admin's subscription policy)", () => {
    const policy = wso2Body('admin', 'SubscriptionThrottlePolicy', { policyName: z.string() });
    // defaultLimit is required by WSO2's schema, so a body without it is refused like WSO2 does.
    const defaultLimit = { type: 'REQUESTCOUNTLIMIT', requestCount: { timeUnit: 'min', unitTime: 1, requestCount: 10 } };
    expect(policy.safeParse({ policyName: 'Gold', graphQLMaxDepth: 3, displayName: 'Gold', defaultLimit }).success).toBe(true);
    expect(policy.safeParse({ policyName: 'Gold', graphQLMaxDepth: 'deep', defaultLimit }).success).toBe(false);
    expect(policy.safeParse({ policyName: 'Gold', graphQLMaxDepth: 3 }).success).toBe(false);
  });
});
