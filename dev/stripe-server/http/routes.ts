import { accountRoutes } from '../resources/accounts';
import { customerRoutes } from '../resources/customers';
import { eventDestinationRoutes } from '../resources/event-destinations';
import { eventRoutes } from '../resources/events';
import { invoiceRoutes } from '../resources/invoices';
import { meterEventStreamRoutes } from '../resources/meter-event-stream';
import { meterEventRoutes } from '../resources/meter-events';
import { meterRoutes } from '../resources/meters';
import { paymentMethodRoutes } from '../resources/payment-methods';
import { priceRoutes } from '../resources/prices';
import { productRoutes } from '../resources/products';
import { subscriptionItemRoutes } from '../resources/subscription-items';
import { subscriptionRoutes } from '../resources/subscriptions';
import { webhookEndpointRoutes } from '../resources/webhook-endpoints';
import type { Route } from './route';

/** Every Stripe API endpoint this server implements. */
export const apiRoutes: Route[] = [
  ...accountRoutes,
  ...productRoutes,
  ...priceRoutes,
  ...customerRoutes,
  ...paymentMethodRoutes,
  ...subscriptionRoutes,
  ...subscriptionItemRoutes,
  ...meterRoutes,
  ...meterEventRoutes,
  ...meterEventStreamRoutes,
  ...invoiceRoutes,
  ...webhookEndpointRoutes,
  ...eventRoutes,
  ...eventDestinationRoutes,
];
