import { z } from 'zod';
import { defineRoute } from '../../route';
import { apiActor, resourceId } from '../common';
import { toInvoiceDto } from './invoice-presenter';

/**
 * GET /apis/{apiId}/invoices (publisher, a Meterline extension): the invoices of every
 * subscription to one of the tenant's APIs, with the billing engine's error where a payment
 * failed (`lastError`). Only for the API's provider or an admin (`apim:admin`); another publisher
 * of the tenant gets 403.
 */
export const listApiInvoices = defineRoute({
  api: 'publisher',
  method: 'get',
  path: '/apis/{apiId}/invoices',
  operationId: 'meterlineListApiInvoices',
  summary: 'List the invoices of the subscriptions to an API',
  scopes: ['apim:api_view', 'apim:api_publish', 'apim:api_manage'],
  params: z.strictObject({ apiId: resourceId }),
  responses: { 200: 'InvoiceList' },
  async handle({ principal, params, apim }) {
    await apim.apis.getManaged(apiActor(principal), params.apiId);
    const invoices = await apim.subscriptions.invoicesOfApiForPublisher(principal.tenant, params.apiId);
    return { status: 200, body: { count: invoices.length, list: invoices.map(toInvoiceDto) } };
  },
});
