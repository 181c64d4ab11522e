import { createApi, createPolicy, roleTokens } from '../../helpers/rest-fixtures';
import { policyBody, PUBLISHER, forEachRestHarness, uniqueName } from '../../helpers/rest-harness';

/** Publisher v4 /apis: create with tiers, list, get, lifecycle. */
forEachRestHarness((rest) => {
  let publisher: string;
  let tier: string;
  beforeAll(async () => {
    publisher = roleTokens(rest()).publisher;
    tier = (await createPolicy(rest(), roleTokens(rest()).admin, policyBody(uniqueName('Tier')))).policyName;
  });

  const apiBody = (overrides: Record<string, unknown> = {}) => {
    const name = uniqueName('Maps');
    return { name, version: 'v1', context: name.toLowerCase(), policies: [tier], ...overrides };
  };

  describe('create', () => {
    it('creates the API in CREATED state, the caller as provider, the context with a leading slash', async () => {
      const body = apiBody();
      const response = await rest().call('POST', `${PUBLISHER}/apis`, { token: publisher, body });
      expect(response.status).toBe(201);
      expect(response.body).toEqual({
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        name: body.name,
        version: 'v1',
        context: `/${body.context}`,
        provider: 'pat',
        type: 'HTTP',
        lifeCycleStatus: 'CREATED',
        createdTime: expect.stringMatching(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/),
        policies: [tier],
        monetization: { enabled: false, properties: {} },
      });
      expect(response.headers.get('location')).toBe(`${PUBLISHER}/apis/${response.body.id}`);
    });

    it('an admin may name another provider; a publisher may not (403)', async () => {
      const asAdmin = rest().token({ sub: 'root', scopes: ['apim:api_create', 'apim:admin'] });
      const created = await rest().call('POST', `${PUBLISHER}/apis`, { token: asAdmin, body: apiBody({ provider: 'someone' }) });
      expect(created.status).toBe(201);
      expect(created.body.provider).toBe('someone');
      const refused = await rest().call('POST', `${PUBLISHER}/apis`, { token: publisher, body: apiBody({ provider: 'someone' }) });
      expect(refused.status).toBe(403);
    });

    it.each([
      ['an unknown tier', { policies: ['NoSuchTier'] }, 'policies[0]'],
      ['a name with a forbidden character', { name: 'bad/name' }, 'name'],
      ['a version with a space', { version: '1 0' }, 'version'],
      ['a field WSO2 does not define', { endpointConfigs: {} }, 'endpointConfigs'],
      ['a gateway field Meterline ignores, of the wrong type', { gatewayType: 5 }, 'gatewayType'],
      ['a missing context', { context: undefined }, 'context'],
      ['an unknown API type', { type: 'FTP' }, 'type'],
    ])('400 for %s', async (_label, overrides, field) => {
      const response = await rest().call('POST', `${PUBLISHER}/apis`, { token: publisher, body: apiBody(overrides) });
      expect(response.status).toBe(400);
      expect(response.body.error.map((e: { code: string }) => e.code)).toContain(field);
    });

    it('409 for the same name and version, or the same context, in the tenant', async () => {
      const body = apiBody();
      await rest().call('POST', `${PUBLISHER}/apis`, { token: publisher, body });
      const sameName = await rest().call('POST', `${PUBLISHER}/apis`, { token: publisher, body: { ...body, context: `/${uniqueName('ctx')}` } });
      expect(sameName.status).toBe(409);
      const sameContext = await rest().call('POST', `${PUBLISHER}/apis`, { token: publisher, body: { ...apiBody(), context: body.context } });
      expect(sameContext.status).toBe(409);
      // AM_API.CONTEXT holds the version (as WSO2 writes it): another version does not free the context.
      const otherVersion = await rest().call('POST', `${PUBLISHER}/apis`, { token: publisher, body: { ...apiBody(), version: 'v2', context: body.context } });
      expect(otherVersion.status).toBe(409);
    });
  });

  describe('list and get', () => {
    it('pages through the tenant\'s APIs with WSO2 pagination', async () => {
      for (let i = 0; i < 3; i += 1) await createApi(rest(), publisher, [tier], { publish: false });
      const all = await rest().call('GET', `${PUBLISHER}/apis?limit=1000`, { token: publisher });
      const total = all.body.pagination.total;
      expect(total).toBeGreaterThanOrEqual(3);
      const page = await rest().call('GET', `${PUBLISHER}/apis?limit=2&offset=1`, { token: publisher });
      expect(page.status).toBe(200);
      expect(page.body.count).toBe(2);
      expect(page.body.list.map((a: { id: string }) => a.id)).toEqual(all.body.list.slice(1, 3).map((a: { id: string }) => a.id));
      expect(page.body.pagination).toEqual({ offset: 1, limit: 2, total, next: '/apis?limit=2&offset=3', previous: '/apis?limit=2&offset=0' });
      expect(page.body.list[0]).not.toHaveProperty('policies');
    });

    it('400 for a bad limit or an unsupported query parameter', async () => {
      expect((await rest().call('GET', `${PUBLISHER}/apis?limit=0`, { token: publisher })).status).toBe(400);
      const unsupported = await rest().call('GET', `${PUBLISHER}/apis?query=name:x`, { token: publisher });
      expect(unsupported.status).toBe(400);
      expect(unsupported.body.error[0].code).toBe('query');
    });

    it('gets one API; 404 for an unknown id', async () => {
      const api = await createApi(rest(), publisher, [tier], { publish: false });
      const response = await rest().call('GET', `${PUBLISHER}/apis/${api.id}`, { token: rest().token({ sub: 'viewer', scopes: ['apim:api_view'] }) });
      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({ id: api.id, name: api.name, policies: [tier] });
      expect((await rest().call('GET', `${PUBLISHER}/apis/nope`, { token: publisher })).status).toBe(404);
    });
  });

  describe('lifecycle', () => {
    it('Publish moves CREATED to PUBLISHED and answers WSO2\'s WorkflowResponse', async () => {
      const api = await createApi(rest(), publisher, [tier], { publish: false });
      const response = await rest().call('POST', `${PUBLISHER}/apis/change-lifecycle?apiId=${api.id}&action=Publish`, { token: publisher });
      expect(response.status).toBe(200);
      expect(response.body).toEqual({
        workflowStatus: 'APPROVED',
        lifecycleState: {
          state: 'Published',
          checkItems: [],
          availableTransitions: [
            { event: 'Demote to Created', targetState: 'Created' },
            { event: 'Block', targetState: 'Blocked' },
            { event: 'Deprecate', targetState: 'Deprecated' },
          ],
        },
      });
      expect((await rest().call('GET', `${PUBLISHER}/apis/${api.id}`, { token: publisher })).body.lifeCycleStatus).toBe('PUBLISHED');
    });

    it('400 for an action not allowed from the state, an unknown action, or publishing without tiers', async () => {
      const api = await createApi(rest(), publisher, [tier]);
      const again = await rest().call('POST', `${PUBLISHER}/apis/change-lifecycle?apiId=${api.id}&action=Publish`, { token: publisher });
      expect(again.status).toBe(400);
      expect(again.body.error[0].code).toBe('action');
      const unknown = await rest().call('POST', `${PUBLISHER}/apis/change-lifecycle?apiId=${api.id}&action=Explode`, { token: publisher });
      expect(unknown.status).toBe(400);
      const bare = await createApi(rest(), publisher, [], { publish: false });
      const noTiers = await rest().call('POST', `${PUBLISHER}/apis/change-lifecycle?apiId=${bare.id}&action=Publish`, { token: publisher });
      expect(noTiers.status).toBe(400);
      expect(noTiers.body.description).toMatch(/offers no subscription policy/);
    });

    it('needs apim:api_publish (or api_manage); 404 for an unknown API', async () => {
      const api = await createApi(rest(), publisher, [tier], { publish: false });
      const creatorOnly = rest().token({ sub: 'pat', scopes: ['apim:api_create', 'apim:api_view'] });
      expect((await rest().call('POST', `${PUBLISHER}/apis/change-lifecycle?apiId=${api.id}&action=Publish`, { token: creatorOnly })).status).toBe(403);
      expect((await rest().call('POST', `${PUBLISHER}/apis/change-lifecycle?apiId=nope&action=Publish`, { token: publisher })).status).toBe(404);
    });
  });
});
