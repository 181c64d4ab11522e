import { z } from 'zod';
import { defineRoute } from '../../route';
import { resourceId } from '../common';
import { toInvoiceDto } from './invoice-presenter';

/**
 * GET /subscriptions/{subscriptionId}/invoices (developer portal, a Meterline extension): the
 * invoices of one of the caller's subscriptions, newest period first, with status and pay link.
 */
export const listSubscriptionInvoices = defineRoute({
  api: 'devportal',
  method: 'get',
  path: '/subscriptions/{subscriptionId}/invoices',
  operationId: 'meterlineListSubscriptionInvoices',
  summary: "List the invoices of one of the caller's subscriptions",
  scopes: ['apim:subscribe', 'apim:sub_manage'],
  params: z.strictObject({ subscriptionId: resourceId }),
  responses: { 200: 'InvoiceList' },
  async handle({ principal, params, apim }) {
    const invoices = await apim.subscriptions.invoicesOwn(principal, params.subscriptionId);
    return { status: 200, body: { count: invoices.length, list: invoices.map(toInvoiceDto) } };
  },
});
