import { createApi, createPolicy, expectStatus, roleTokens } from '../../helpers/rest-fixtures';
import { ADMIN, OTHER_TENANT, policyBody, PUBLISHER, forEachRestHarness, uniqueName, type RestHarness } from '../../helpers/rest-harness';
import { Wso2ResponseValidator } from '../../helpers/wso2-response-validator';

/**
 * Two publisher operations the publisher portal calls (issue 15): the streaming subscription
 * policies (`GET /throttling-policies/streaming/subscription`: the event-count policies) and the
 * policies an API is sold on (`GET /apis/{apiId}/subscription-policies`: an array of
 * ThrottlingPolicy, as WSO2 answers it), each of the caller's tenant only, and valid against
 * WSO2's schemas.
 */
const validator = new Wso2ResponseValidator({ 'publisher GET /apis/{apiId}/subscription-policies 200': 'ThrottlingPolicy[]' });

/** A FREE policy with an event-count quota (WSO2's limit for streaming APIs), created by the tenant's admin. */
async function createStreamingPolicy(rest: RestHarness, token: string, name: string): Promise<{ policyId: string; policyName: string }> {
  const body = { ...policyBody(name), defaultLimit: { type: 'EVENTCOUNTLIMIT', eventCount: { timeUnit: 'min', unitTime: 1, eventCount: 3000 } } };
  return expectStatus(await rest.call('POST', `${ADMIN}/throttling/policies/subscription`, { token, body }), 201, 'create streaming policy').body;
}

forEachRestHarness((rest) => {
  it("lists the tenant's event-count policies as WSO2's SubscriptionPolicy, and no other tenant's", async () => {
    const tokens = roleTokens(rest());
    const other = roleTokens(rest(), OTHER_TENANT.domain);
    const events = await createStreamingPolicy(rest(), tokens.admin, uniqueName('Events'));
    const requests = await createPolicy(rest(), tokens.admin, policyBody(uniqueName('Requests')));
    const elsewhere = await createStreamingPolicy(rest(), other.admin, uniqueName('Elsewhere'));

    const path = '/throttling-policies/streaming/subscription';
    const listed = await rest().call('GET', `${PUBLISHER}${path}?limit=1000`, { token: tokens.publisher });
    expect(listed.status).toBe(200);
    expect(validator.check('publisher', path, 'get', 200, listed.body).errors).toEqual([]);
    const names = listed.body.list.map((p: { policyName: string }) => p.policyName);
    expect(names).toContain(events.policyName);
    expect(names).not.toContain(requests.policyName);
    expect(names).not.toContain(elsewhere.policyName);
    expect(listed.body.list.find((p: { policyName: string }) => p.policyName === events.policyName)).toEqual({
      uuid: events.policyId,
      policyName: events.policyName,
      displayName: events.policyName,
      description: `${events.policyName} plan`,
      isDeployed: true,
      tenantId: -1234,
      tenantDomain: 'carbon.super',
      defaultLimit: { type: 'EVENTCOUNTLIMIT', eventCount: { timeUnit: 'min', unitTime: 1, eventCount: 3000 } },
      stopOnQuotaReach: true,
      billingPlan: 'FREE',
    });
    expect(listed.body.pagination.total).toBe(listed.body.list.length);

    const theirs = await rest().call('GET', `${PUBLISHER}${path}?limit=1000`, { token: other.publisher });
    expect(theirs.body.list.map((p: { policyName: string }) => p.policyName)).toEqual(expect.arrayContaining([elsewhere.policyName]));
    expect(theirs.body.list.map((p: { policyName: string }) => p.policyName)).not.toContain(events.policyName);

    const bad = await rest().call('GET', `${PUBLISHER}${path}?limit=0`, { token: tokens.publisher });
    expect([bad.status, bad.body.error?.[0]?.code]).toEqual([400, 'limit']);
  });

  it("answers an API's tiers as an array of ThrottlingPolicy, in the tier listing's order; 404 for another tenant's API or none", async () => {
    const tokens = roleTokens(rest());
    const other = roleTokens(rest(), OTHER_TENANT.domain);
    const gold = await createPolicy(rest(), tokens.admin, policyBody(uniqueName('Gold'), { plan: 'FIXEDRATE', price: '9.00' }));
    const free = await createPolicy(rest(), tokens.admin, policyBody(uniqueName('Free')));
    const api = await createApi(rest(), tokens.publisher, [gold.policyName, free.policyName]);

    const template = '/apis/{apiId}/subscription-policies';
    const answer = await rest().call('GET', `${PUBLISHER}/apis/${api.id}/subscription-policies`, { token: tokens.publisher });
    expect(answer.status).toBe(200);
    expect(validator.check('publisher', template, 'get', 200, answer.body).errors).toEqual([]);
    expect(answer.body.map((p: { name: string; tierPlan: string }) => [p.name, p.tierPlan]).sort()).toEqual(
      [
        [gold.policyName, 'COMMERCIAL'],
        [free.policyName, 'FREE'],
      ].sort(),
    );
    // In the tier listing's order, each as the listing presents it.
    const listing = await rest().call('GET', `${PUBLISHER}/throttling-policies/subscription?limit=1000`, { token: tokens.publisher });
    expect(answer.body).toEqual(listing.body.list.filter((p: { name: string }) => [gold.policyName, free.policyName].includes(p.name)));

    const foreign = await rest().call('GET', `${PUBLISHER}/apis/${api.id}/subscription-policies`, { token: other.publisher });
    expect(foreign.status).toBe(404);
    expect(validator.check('publisher', template, 'get', 404, foreign.body).errors).toEqual([]);
    expect((await rest().call('GET', `${PUBLISHER}/apis/missing/subscription-policies`, { token: tokens.publisher })).status).toBe(404);
  });
});
