import type { AnyRoute } from '../../route';
import { listApiInvoices } from './list-api-invoices';
import { listSubscriptionInvoices } from './list-subscription-invoices';
import { closeOwnInvoices, listOwnInvoices } from './own-invoices';
import { DEVPORTAL_SPEND_LIMIT_ROUTES } from '../devportal/spend-limit';
import { PUBLISHER_SPEND_LIMIT_ROUTES } from '../publisher/spend-limit';

/**
 * Meterline's own operations under WSO2's base paths (WSO2 has no invoice records): same
 * authentication, scopes and error shape as the WSO2 operations, described in Meterline's
 * OpenAPI document but not validated against WSO2's.
 */
export const EXTENSION_ROUTES: readonly AnyRoute[] = [listSubscriptionInvoices, listApiInvoices, listOwnInvoices, closeOwnInvoices, ...DEVPORTAL_SPEND_LIMIT_ROUTES, ...PUBLISHER_SPEND_LIMIT_ROUTES];
