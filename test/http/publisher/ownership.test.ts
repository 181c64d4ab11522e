import { connectedAccount, monetizedWorld, roleTokens } from '../../helpers/rest-fixtures';
import { PUBLISHER, SCOPES, forEachRestHarness } from '../../helpers/rest-harness';

/**
 * An API belongs to its provider. Another publisher of the tenant may view it (as in WSO2) but
 * neither change it nor see its money; an admin (apim:admin) acts for any provider. The
 * per-route 403s are in security.test.ts; these are the behaviours around them.
 */
forEachRestHarness((rest) => {
  let world: Awaited<ReturnType<typeof monetizedWorld>>;
  let other: string;
  beforeAll(async () => {
    world = await monetizedWorld(rest(), roleTokens(rest()));
    other = rest().token({ sub: 'pia', scopes: SCOPES.publisher });
  });

  it('another publisher of the tenant still views the API, its tiers and its monetization status', async () => {
    const api = await rest().call('GET', `${PUBLISHER}/apis/${world.api.id}`, { token: other });
    expect(api.status).toBe(200);
    expect(api.body).toMatchObject({ id: world.api.id, provider: 'pat', monetization: { enabled: true } });
    expect((await rest().call('GET', `${PUBLISHER}/apis?limit=1000`, { token: other })).body.list.map((a: { id: string }) => a.id)).toContain(world.api.id);
    expect((await rest().call('GET', `${PUBLISHER}/apis/${world.api.id}/monetization`, { token: other })).body.enabled).toBe(true);
  });

  it("another publisher cannot move the API's money to their own connected account (403, the account stays)", async () => {
    const theirs = await connectedAccount(rest());
    const response = await rest().call('POST', `${PUBLISHER}/apis/${world.api.id}/monetize`, {
      token: other,
      body: { enabled: true, properties: { ConnectedAccountKey: theirs } },
    });
    expect(response.status).toBe(403);
    expect(response.body).toMatchObject({ code: 900910, message: 'Forbidden' });
    const api = await rest().call('GET', `${PUBLISHER}/apis/${world.api.id}`, { token: roleTokens(rest()).publisher });
    expect(api.body.monetization).toEqual({ enabled: true, properties: { ConnectedAccountKey: world.account } });
  });

  it("the subscription list without apiId holds the caller's APIs only; an admin sees every provider's", async () => {
    const own = await rest().call('GET', `${PUBLISHER}/subscriptions?limit=1000`, { token: roleTokens(rest()).publisher });
    expect(own.body.list.map((s: { subscriptionId: string }) => s.subscriptionId)).toContain(world.subscriptionId);
    const theirs = await rest().call('GET', `${PUBLISHER}/subscriptions?limit=1000`, { token: other });
    expect(theirs.status).toBe(200);
    expect(theirs.body).toMatchObject({ count: 0, list: [], pagination: { total: 0 } });
    const admin = await rest().call('GET', `${PUBLISHER}/subscriptions?limit=1000`, { token: rest().token({ sub: 'root', scopes: ['apim:subscription_view', 'apim:admin'] }) });
    expect(admin.body.list.map((s: { subscriptionId: string }) => s.subscriptionId)).toContain(world.subscriptionId);
  });

  it('an unknown API or subscription is still 404, not 403', async () => {
    expect((await rest().call('GET', `${PUBLISHER}/apis/no-such-api/revenue`, { token: other })).status).toBe(404);
    expect((await rest().call('GET', `${PUBLISHER}/subscriptions/no-such-subscription/usage`, { token: other })).status).toBe(404);
    expect((await rest().call('POST', `${PUBLISHER}/apis/change-lifecycle?apiId=no-such-api&action=Block`, { token: other })).status).toBe(404);
  });
});
