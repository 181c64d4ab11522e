import { defineRoute } from '../../route';

/** GET /settings — publisher settings; `monetizationAttributes` are the configured additional attributes. */
export const getPublisherSettings = defineRoute({
  api: 'publisher',
  method: 'get',
  path: '/settings',
  operationId: 'getSettings',
  summary: 'Retrieve Publisher Settings',
  scopes: ['apim:api_view', 'apim:publisher_settings'],
  responses: { 200: 'Settings' },
  async handle({ apim }) {
    return {
      status: 200,
      body: {
        monetizationAttributes: apim.monetizationAttributes.map((a) => ({
          required: a.required,
          name: a.name,
          displayName: a.display_name,
          description: a.description,
          hidden: a.hidden,
          ...(a.default === undefined ? {} : { default: a.default }),
        })),
        crossTenantSubscriptionEnabled: false,
      },
    };
  },
});
