/**
 * Meterline's own operations (not in WSO2's documents): invoice listings, the billing webhook,
 * the gateway's access check and usage ingestion, described by hand and merged into the served
 * OpenAPI document beside the WSO2 operations.
 */
const ERROR = { $ref: '#/components/schemas/Meterline.Error' };
const json = (schema: unknown) => ({ content: { 'application/json': { schema } } });
const bearer = (scopes: string[]) => [{ OAuth2Security: scopes }];
const pathId = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'string', maxLength: 256 } });

const money = { type: 'string', description: 'Exact decimal in the currency’s major unit', example: '7.50' };
const time = { type: 'string', format: 'date-time', nullable: true };

/** The body of POST and PUT /notifications/channels (src/http/routes/admin/notifications.ts validates it). */
const NOTIFICATION_CHANNEL_BODY = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'kind', 'target', 'events'],
  properties: {
    name: { type: 'string', maxLength: 255 },
    kind: { type: 'string', enum: ['webhook', 'teams', 'slack', 'email'] },
    target: { type: 'string', maxLength: 2048, description: 'An http(s) URL; for email, comma-separated addresses' },
    secret: { type: 'string', nullable: true, maxLength: 255, description: 'webhook only, required there: whsec_ + base64 of 24 to 64 random bytes (Standard Webhooks); on PUT, left out keeps the stored one' },
    events: { type: 'array', minItems: 1, items: { type: 'string' }, description: 'Event types (docs/notifications.md), or ["*"] for every one' },
    enabled: { type: 'boolean', default: true },
  },
};

export const EXTENSION_SCHEMAS: Record<string, unknown> = {
  'Meterline.Error': {
    type: 'object',
    required: ['code', 'message'],
    properties: {
      code: { type: 'integer' },
      message: { type: 'string' },
      description: { type: 'string' },
      moreInfo: { type: 'string' },
      error: { type: 'array', items: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } } },
    },
  },
  'Meterline.Invoice': {
    type: 'object',
    properties: {
      invoiceId: { type: 'string' },
      subscriptionId: { type: 'string', nullable: true },
      applicationId: { type: 'string', nullable: true },
      apiId: { type: 'string', nullable: true },
      status: { type: 'string', enum: ['DRAFT', 'OPEN', 'PAID', 'VOID', 'UNCOLLECTIBLE'] },
      currency: { type: 'string', example: 'USD' },
      total: money,
      amountDue: money,
      amountPaid: money,
      amountRemaining: money,
      carriedToBalance: { ...money, nullable: true, description: "The invoice's own amount left on the customer's balance instead of being collected (e.g. below the minimum charge); null when the engine does not say" },
      collectedFromBalance: { ...money, nullable: true, description: 'An earlier carried amount collected with this invoice; null when the engine does not say' },
      periodStart: time,
      periodEnd: time,
      billingReason: { type: 'string', nullable: true },
      hostedInvoiceUrl: { type: 'string', nullable: true },
      invoicePdfUrl: { type: 'string', nullable: true, description: "The engine's PDF of the invoice (paid or not); null when the engine has none" },
      lastError: { type: 'string', nullable: true },
      createdTime: time,
      finalizedTime: time,
      paidTime: time,
      voidedTime: time,
      uncollectibleTime: time,
    },
  },
  'Meterline.InvoiceList': {
    type: 'object',
    properties: { count: { type: 'integer' }, list: { type: 'array', items: { $ref: '#/components/schemas/Meterline.Invoice' } } },
  },
  'Meterline.UsageReconciliation': {
    type: 'object',
    description: 'What `meterline reconcile usage --json` prints: per subscription and billing period, usage sent against what the engine counted and invoiced',
    properties: {
      period: { type: 'string', example: 'last-closed' },
      checkedAt: { type: 'string', format: 'date-time' },
      matches: { type: 'boolean', description: 'True when every metered row matches' },
      differences: { type: 'integer' },
      rows: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            subscriptionId: { type: 'string' },
            apiId: { type: 'string' },
            tenant: { type: 'string' },
            periodStart: { type: 'string', format: 'date-time' },
            periodEnd: { type: 'string', format: 'date-time' },
            status: { type: 'string', enum: ['MATCH', 'DIFFERENT', 'NOT_METERED'] },
            meter: { type: 'string', nullable: true },
            countedFrom: time,
            countedTo: time,
            sent: { type: 'integer', description: 'Units Meterline sent stamped in [countedFrom, countedTo)' },
            counted: { type: 'number', nullable: true, description: 'Units the engine counted in that range' },
            sentForPeriod: { type: 'integer' },
            invoiceId: { type: 'string', nullable: true },
            invoiceFinal: { type: 'boolean', nullable: true },
            invoiced: { type: 'number', nullable: true },
            unsent: { type: 'object', additionalProperties: { type: 'integer' }, description: 'Units of the period not sent, by record state' },
            differences: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  kind: { type: 'string', enum: ['NOT_COUNTED', 'NOT_SENT_BY_METERLINE', 'NOT_INVOICED', 'INVOICE_DIFFERS'] },
                  quantity: { type: 'number' },
                  detail: { type: 'string' },
                },
              },
            },
          },
        },
      },
      skipped: { type: 'array', items: { type: 'object', properties: { subscriptionId: { type: 'string' }, reason: { type: 'string' } } } },
    },
  },
  'Meterline.EngineDelivery': {
    type: 'object',
    description: "One request the billing engine sent (the HTTP integration engine: docs/custom-billing.md); never its body or a secret",
    properties: {
      id: { type: 'string' },
      operation: { type: 'string', example: 'usage.reported' },
      messageId: { type: 'string', description: 'The webhook-id, the same on every attempt' },
      mode: { type: 'string', enum: ['sync', 'async'] },
      status: { type: 'string', enum: ['PENDING', 'DELIVERED', 'FAILED', 'DEAD'] },
      attempts: { type: 'integer' },
      nextAttemptTime: time,
      lastError: { type: 'string', nullable: true },
      createdTime: { type: 'string', format: 'date-time' },
      deliveredTime: time,
    },
  },
  'Meterline.EngineDeliveryList': {
    type: 'object',
    properties: { count: { type: 'integer' }, total: { type: 'integer' }, list: { type: 'array', items: { $ref: '#/components/schemas/Meterline.EngineDelivery' } } },
  },
  'Meterline.UsageRequeue': {
    type: 'object',
    properties: {
      requeued: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            recordId: { type: 'integer' },
            subscriptionId: { type: 'string' },
            apiId: { type: 'string' },
            windowStart: { type: 'string', format: 'date-time' },
            windowEnd: { type: 'string', format: 'date-time' },
            quantity: { type: 'integer' },
            previousIdentifier: { type: 'string', description: 'The identifier the engine refused' },
            identifier: { type: 'string', description: 'The new identifier the record is published under' },
          },
        },
      },
    },
  },
  'Meterline.OwnInvoice': {
    type: 'object',
    description: 'An invoice Meterline made itself (engines that only collect payment; docs/invoicing.md)',
    properties: {
      invoiceId: { type: 'string', description: 'Meterline’s deterministic id (mli_…), the customer reference at the engine' },
      kind: { type: 'string', enum: ['SUBSCRIPTION_START', 'PERIOD', 'FINAL'] },
      subscriptionId: { type: 'string' },
      apiId: { type: 'string' },
      status: { type: 'string', enum: ['DRAFT', 'OPEN', 'PAID', 'VOID', 'UNCOLLECTIBLE'] },
      currency: { type: 'string', example: 'KWD' },
      periodStart: { type: 'string', format: 'date-time' },
      periodEnd: { type: 'string', format: 'date-time' },
      calls: { type: 'integer', description: 'The calls of its own period it rates' },
      total: money,
      lines: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            kind: { type: 'string', enum: ['SETUP_FEE', 'BASE_FEE', 'USAGE', 'LATE_USAGE'] },
            description: { type: 'string' },
            quantity: { type: 'integer' },
            unitAmountDecimal: { type: 'string', nullable: true, description: 'Exact unit price in the major unit; null when the line is not quantity × unit price' },
            amount: money,
          },
        },
      },
      engineInvoiceId: { type: 'string', nullable: true },
      hostedInvoiceUrl: { type: 'string', nullable: true, description: 'The pay link' },
      invoicePdfUrl: { type: 'string', nullable: true },
      expiresTime: { type: 'string', format: 'date-time', description: 'When the pay link stops working (set at submission)' },
      attempts: { type: 'integer' },
      lastError: { type: 'string', nullable: true },
      createdTime: { type: 'string', format: 'date-time' },
      submittedTime: time,
    },
  },
  'Meterline.OwnInvoiceList': {
    type: 'object',
    properties: { count: { type: 'integer' }, list: { type: 'array', items: { $ref: '#/components/schemas/Meterline.OwnInvoice' } } },
  },
  'Meterline.OwnInvoiceClose': {
    type: 'object',
    properties: {
      subscriptionId: { type: 'string' },
      closed: { type: 'integer', description: 'Periods closed by this call' },
      waiting: { type: 'string', nullable: true, description: 'Why due periods wait for the next check (usage could not be frozen now)' },
      submitted: { type: 'integer', description: 'Drafts of the subscription submitted by this call' },
      made: { type: 'array', items: { $ref: '#/components/schemas/Meterline.OwnInvoice' }, description: 'The invoices this call made (empty when all were made before)' },
    },
  },
  'Meterline.SpendLimit': {
    type: 'object',
    description: "A subscription's spend limits (docs/spend-limits.md): each party's, what applies (the lower amount's thresholds; the lowest hard cap), and the current billing period's rated usage",
    properties: {
      subscriptionId: { type: 'string' },
      currency: { type: 'string', example: 'USD', description: "The plan's currency" },
      limits: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            setBy: { type: 'string', enum: ['subscriber', 'publisher'] },
            amount: money,
            thresholds: { type: 'array', items: { type: 'integer', minimum: 1, maximum: 100 } },
            hardCap: { type: 'boolean' },
            updatedBy: { type: 'string' },
            updatedTime: { type: 'string', format: 'date-time' },
          },
        },
      },
      applied: {
        type: 'object',
        properties: {
          alerts: { type: 'object', nullable: true, description: 'The limit with the lower amount: its thresholds notify', properties: { setBy: { type: 'string', enum: ['subscriber', 'publisher'] }, amount: money, thresholds: { type: 'array', items: { type: 'integer' } } } },
          hardCap: { type: 'object', nullable: true, description: 'The lowest amount among the limits with a hard cap', properties: { setBy: { type: 'string', enum: ['subscriber', 'publisher'] }, amount: money } },
        },
      },
      period: {
        type: 'object',
        properties: {
          start: { type: 'string', format: 'date-time' },
          end: { type: 'string', format: 'date-time' },
          calls: { type: 'integer' },
          spent: { ...money, description: "The period's usage rated with the plan (usage lines only; the base and setup fees are not counted)" },
          thresholdsReached: { type: 'array', items: { type: 'integer' }, description: 'The applied alert limit’s thresholds the spend has reached now' },
          thresholdsNotified: { type: 'array', items: { type: 'integer' }, description: 'Thresholds already notified this period (once each)' },
          capped: { type: 'boolean' },
          cappedTime: time,
          reason: { type: 'string', nullable: true, description: 'Why calls are refused while capped' },
        },
      },
    },
  },
  'Meterline.NotificationChannel': {
    type: 'object',
    description: 'A notification channel of the tenant (docs/notifications.md); its signing secret is never returned',
    properties: {
      id: { type: 'string' },
      name: { type: 'string' },
      kind: { type: 'string', enum: ['webhook', 'teams', 'slack', 'email'] },
      target: { type: 'string', description: 'The URL (webhook, teams, slack) or comma-separated e-mail addresses (email)' },
      hasSecret: { type: 'boolean', description: 'A webhook channel has a signing secret' },
      events: { type: 'array', items: { type: 'string' }, description: 'Event types it gets, or ["*"] for all' },
      enabled: { type: 'boolean' },
      createdTime: { type: 'string', format: 'date-time' },
      updatedTime: { type: 'string', format: 'date-time' },
    },
  },
  'Meterline.NotificationChannelList': {
    type: 'object',
    properties: { count: { type: 'integer' }, list: { type: 'array', items: { $ref: '#/components/schemas/Meterline.NotificationChannel' } } },
  },
  'Meterline.NotificationDelivery': {
    type: 'object',
    description: 'One event for one channel, in the outbox',
    properties: {
      id: { type: 'string' },
      channelId: { type: 'string' },
      eventId: { type: 'string', description: 'Deterministic: the same fact has the same id (the webhook-id header)' },
      eventType: { type: 'string' },
      status: { type: 'string', enum: ['PENDING', 'DELIVERED', 'FAILED', 'DEAD'] },
      attempts: { type: 'integer' },
      nextAttemptTime: time,
      lastError: { type: 'string', nullable: true },
      createdTime: { type: 'string', format: 'date-time' },
      deliveredTime: time,
      event: { type: 'object', description: 'The event as delivered: id, type, tenantDomain, occurredAt, summary, data, subscriberEmail' },
    },
  },
  'Meterline.NotificationDeliveryList': {
    type: 'object',
    properties: {
      count: { type: 'integer' },
      list: { type: 'array', items: { $ref: '#/components/schemas/Meterline.NotificationDelivery' } },
      pagination: { type: 'object', properties: { offset: { type: 'integer' }, limit: { type: 'integer' }, total: { type: 'integer' } } },
    },
  },
  'Meterline.Access': {
    type: 'object',
    properties: {
      subscriptionId: { type: 'string' },
      allowed: { type: 'boolean' },
      status: { type: 'string', enum: ['UNBLOCKED', 'ON_HOLD', 'BLOCKED'] },
      reason: { type: 'string', nullable: true },
    },
  },
};

export const EXTENSION_PATHS: Record<string, Record<string, unknown>> = {
  '/api/am/admin/v4/notifications/channels': {
    get: {
      tags: ['Meterline'],
      summary: "List the tenant's notification channels",
      operationId: 'meterline.listNotificationChannels',
      responses: { 200: { description: 'Channels, by name', ...json({ $ref: '#/components/schemas/Meterline.NotificationChannelList' }) } },
      security: bearer(['apim:admin']),
    },
    post: {
      tags: ['Meterline'],
      summary: 'Add a notification channel (signed webhook, MS Teams, Slack or e-mail)',
      operationId: 'meterline.createNotificationChannel',
      requestBody: { required: true, ...json(NOTIFICATION_CHANNEL_BODY) },
      responses: {
        201: { description: 'Created (Location: the channel)', ...json({ $ref: '#/components/schemas/Meterline.NotificationChannel' }) },
        400: { description: 'A bad field (named)', ...json(ERROR) },
        409: { description: 'The tenant has a channel of this name', ...json(ERROR) },
      },
      security: bearer(['apim:admin']),
    },
  },
  '/api/am/admin/v4/notifications/channels/{channelId}': {
    get: {
      tags: ['Meterline'],
      summary: 'Get a notification channel',
      operationId: 'meterline.getNotificationChannel',
      parameters: [pathId('channelId')],
      responses: { 200: { description: 'The channel', ...json({ $ref: '#/components/schemas/Meterline.NotificationChannel' }) }, 404: { description: 'Not the tenant’s', ...json(ERROR) } },
      security: bearer(['apim:admin']),
    },
    put: {
      tags: ['Meterline'],
      summary: "Replace a notification channel's settings (a webhook's secret left out is kept)",
      operationId: 'meterline.updateNotificationChannel',
      parameters: [pathId('channelId')],
      requestBody: { required: true, ...json(NOTIFICATION_CHANNEL_BODY) },
      responses: {
        200: { description: 'The channel', ...json({ $ref: '#/components/schemas/Meterline.NotificationChannel' }) },
        400: { description: 'A bad field (named)', ...json(ERROR) },
        404: { description: 'Not the tenant’s', ...json(ERROR) },
        409: { description: 'The tenant has another channel of this name', ...json(ERROR) },
      },
      security: bearer(['apim:admin']),
    },
    delete: {
      tags: ['Meterline'],
      summary: 'Delete a notification channel and its deliveries',
      operationId: 'meterline.deleteNotificationChannel',
      parameters: [pathId('channelId')],
      responses: { 200: { description: 'Deleted' }, 404: { description: 'Not the tenant’s', ...json(ERROR) } },
      security: bearer(['apim:admin']),
    },
  },
  '/api/am/admin/v4/notifications/deliveries': {
    get: {
      tags: ['Meterline'],
      summary: "List the tenant's notification deliveries, newest first",
      operationId: 'meterline.listNotificationDeliveries',
      parameters: [
        { name: 'status', in: 'query', required: false, schema: { type: 'string', enum: ['PENDING', 'DELIVERED', 'FAILED', 'DEAD'] } },
        { name: 'eventType', in: 'query', required: false, schema: { type: 'string' } },
        { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 1000, default: 25 } },
        { name: 'offset', in: 'query', required: false, schema: { type: 'integer', minimum: 0, default: 0 } },
      ],
      responses: { 200: { description: 'Deliveries', ...json({ $ref: '#/components/schemas/Meterline.NotificationDeliveryList' }) }, 400: { description: 'A bad query parameter (named)', ...json(ERROR) } },
      security: bearer(['apim:admin']),
    },
  },
  '/api/am/admin/v4/notifications/deliveries/{deliveryId}/retry': {
    post: {
      tags: ['Meterline'],
      summary: 'Send a FAILED or DEAD delivery again now (back to PENDING, attempts from zero)',
      operationId: 'meterline.retryNotificationDelivery',
      parameters: [pathId('deliveryId')],
      responses: {
        200: { description: 'The delivery, PENDING', ...json({ $ref: '#/components/schemas/Meterline.NotificationDelivery' }) },
        404: { description: 'Not the tenant’s', ...json(ERROR) },
        409: { description: 'The delivery is PENDING or DELIVERED', ...json(ERROR) },
      },
      security: bearer(['apim:admin']),
    },
  },
  '/api/am/admin/v4/monetization/usage-reconciliation': {
    get: {
      tags: ['Meterline'],
      summary: 'Usage sent against what the billing engine counted and invoiced, per subscription and billing period (every tenant; super tenant admins)',
      operationId: 'meterline.usageReconciliation',
      parameters: [
        {
          name: 'period',
          in: 'query',
          required: false,
          schema: { type: 'string', maxLength: 40 },
          description: 'YYYY-MM: the periods ending that month (UTC); YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]Z: the period containing that instant; absent: each subscription’s last closed period (its invoice final)',
        },
      ],
      responses: {
        200: { description: 'The reconciliation; `matches` is false when a difference needs a human', ...json({ $ref: '#/components/schemas/Meterline.UsageReconciliation' }) },
        400: { description: '`period` is none of its forms', ...json(ERROR) },
        409: { description: 'The billing engine cannot reconcile usage', ...json(ERROR) },
      },
      security: bearer(['apim:admin', 'apim:monetization_usage_publish']),
    },
  },
  '/api/am/admin/v4/monetization/usage-records/requeue': {
    post: {
      tags: ['Meterline'],
      summary: 'Publish again, once and under a new identifier, usage the billing engine reported it could not bill (ENGINE_ERROR; every tenant; super tenant admins)',
      operationId: 'meterline.requeueUsageRecords',
      requestBody: {
        required: true,
        ...json({
          type: 'object',
          additionalProperties: false,
          description: 'Exactly one of recordId and subscriptionId (every ENGINE_ERROR record of the subscription)',
          properties: { recordId: { type: 'integer', minimum: 1 }, subscriptionId: { type: 'string', maxLength: 255 } },
        }),
      },
      responses: {
        200: { description: 'The records re-queued', ...json({ $ref: '#/components/schemas/Meterline.UsageRequeue' }) },
        400: { description: 'The body names neither or both of recordId and subscriptionId, or a bad value', ...json(ERROR) },
        404: { description: 'No such record, or the subscription has no ENGINE_ERROR record', ...json(ERROR) },
        409: { description: 'The record is not ENGINE_ERROR, or the engine counted its usage after all (or cannot say)', ...json(ERROR) },
      },
      security: bearer(['apim:admin', 'apim:monetization_usage_publish']),
    },
  },
  '/api/am/admin/v4/monetization/deliveries': {
    get: {
      tags: ['Meterline'],
      summary: "List the billing engine's deliveries to the tenant's billing integration, newest first (dead letters: status=DEAD)",
      operationId: 'meterline.listEngineDeliveries',
      parameters: [
        { name: 'status', in: 'query', required: false, schema: { type: 'string', enum: ['PENDING', 'DELIVERED', 'FAILED', 'DEAD'] } },
        { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 200, default: 25 } },
        { name: 'offset', in: 'query', required: false, schema: { type: 'integer', minimum: 0, default: 0 } },
      ],
      responses: {
        200: { description: "The tenant's deliveries", ...json({ $ref: '#/components/schemas/Meterline.EngineDeliveryList' }) },
        400: { description: 'A bad status, limit or offset', ...json(ERROR) },
        404: { description: 'The billing engine keeps no delivery log', ...json(ERROR) },
      },
      security: bearer(['apim:admin']),
    },
  },
  '/api/am/admin/v4/monetization/deliveries/{deliveryId}/replay': {
    post: {
      tags: ['Meterline'],
      summary: 'Send a delivery again now (its attempts counted afresh) and answer it after that attempt',
      operationId: 'meterline.replayEngineDelivery',
      parameters: [pathId('deliveryId')],
      responses: {
        200: { description: 'The delivery after the attempt (DELIVERED, or FAILED with its next attempt)', ...json({ $ref: '#/components/schemas/Meterline.EngineDelivery' }) },
        404: { description: "No such delivery in the caller's tenant, or the engine keeps no delivery log", ...json(ERROR) },
        409: { description: 'Delivered already, or a synchronous operation (do the operation again instead)', ...json(ERROR) },
      },
      security: bearer(['apim:admin']),
    },
  },
  '/api/am/admin/v4/monetization/own-invoices': {
    get: {
      tags: ['Meterline'],
      summary: "List the invoices Meterline made for the tenant's subscriptions (engines that only collect payment)",
      operationId: 'meterline.listOwnInvoices',
      parameters: [
        { name: 'subscriptionId', in: 'query', required: false, schema: { type: 'string', maxLength: 256 } },
        { name: 'status', in: 'query', required: false, schema: { type: 'string', enum: ['DRAFT', 'OPEN', 'PAID', 'VOID', 'UNCOLLECTIBLE'] } },
      ],
      responses: {
        200: { description: 'Invoices, newest period first (at most 1000); empty for an engine that makes its own invoices', ...json({ $ref: '#/components/schemas/Meterline.OwnInvoiceList' }) },
        400: { description: 'A bad query parameter (named)', ...json(ERROR) },
      },
      security: bearer(['apim:admin']),
    },
  },
  '/api/am/admin/v4/monetization/own-invoices/close': {
    post: {
      tags: ['Meterline'],
      summary: 'Make now the invoices due for one subscription: its missing first invoice, its periods due close_after_minutes after their end, its drafts left (idempotent)',
      operationId: 'meterline.closeOwnInvoices',
      requestBody: { required: true, ...json({ type: 'object', additionalProperties: false, required: ['subscriptionId'], properties: { subscriptionId: { type: 'string', maxLength: 256 } } }) },
      responses: {
        200: { description: 'What the call made', ...json({ $ref: '#/components/schemas/Meterline.OwnInvoiceClose' }) },
        400: { description: 'A bad body (the field named)', ...json(ERROR) },
        404: { description: 'No such subscription in the tenant', ...json(ERROR) },
        409: { description: 'The billing engine makes its own invoices', ...json(ERROR) },
      },
      security: bearer(['apim:admin']),
    },
  },
  '/api/am/devportal/v3/subscriptions/{subscriptionId}/invoices': {
    get: {
      tags: ['Meterline'],
      summary: "List the invoices of one of the caller's subscriptions",
      operationId: 'meterline.listSubscriptionInvoices',
      parameters: [pathId('subscriptionId')],
      responses: { 200: { description: 'Invoices, newest period first', ...json({ $ref: '#/components/schemas/Meterline.InvoiceList' }) }, 404: { description: 'Not the caller’s', ...json(ERROR) } },
      security: bearer(['apim:subscribe', 'apim:sub_manage']),
    },
  },
  '/api/am/publisher/v4/apis/{apiId}/invoices': {
    get: {
      tags: ['Meterline'],
      summary: "List the invoices of an API's subscriptions",
      operationId: 'meterline.listApiInvoices',
      parameters: [pathId('apiId')],
      responses: { 200: { description: 'Invoices, newest period first', ...json({ $ref: '#/components/schemas/Meterline.InvoiceList' }) }, 404: { description: 'Not the tenant’s', ...json(ERROR) } },
      security: bearer(['apim:api_view', 'apim:api_publish', 'apim:api_manage']),
    },
  },
  '/api/am/devportal/v3/subscriptions/{subscriptionId}/spend-limit': spendLimitOperations('subscriber', ['apim:subscribe', 'apim:sub_manage'], ['apim:subscribe', 'apim:sub_manage'], 'Not the caller’s subscription (another subscriber’s or another tenant’s)'),
  '/api/am/publisher/v4/subscriptions/{subscriptionId}/spend-limit': spendLimitOperations('publisher', ['apim:api_view', 'apim:subscription_view', 'apim:subscription_manage'], ['apim:subscription_manage'], 'No such subscription in the tenant'),
  '/api/am/usage/v1/subscriptions/{subscriptionId}/access': {
    get: {
      tags: ['Meterline'],
      summary: 'May this subscription call now? Answered from local state',
      operationId: 'meterline.subscriptionAccess',
      parameters: [pathId('subscriptionId')],
      responses: { 200: { description: 'The decision', ...json({ $ref: '#/components/schemas/Meterline.Access' }) }, 404: { description: 'No such subscription in the token’s tenant', ...json(ERROR) } },
      security: bearer(['apim:usage_ingest']),
    },
  },
  '/api/am/usage/v1/events': {
    post: {
      tags: ['Meterline'],
      summary: 'Push request events in batches (deduplicated by eventId, answered per event)',
      operationId: 'meterline.ingestUsage',
      requestBody: {
        required: true,
        ...json({
          type: 'object',
          required: ['events'],
          properties: {
            events: {
              type: 'array',
              minItems: 1,
              maxItems: 1000,
              items: {
                type: 'object',
                required: ['eventId', 'timestamp', 'apiId', 'applicationId', 'httpStatus', 'tenant'],
                properties: {
                  eventId: { type: 'string', maxLength: 128 },
                  timestamp: { oneOf: [{ type: 'integer', description: 'epoch ms' }, { type: 'string', format: 'date-time' }] },
                  apiId: { type: 'string' },
                  applicationId: { type: 'string' },
                  subscriptionId: { type: 'string' },
                  consumerKey: { type: 'string' },
                  httpStatus: { type: 'integer', minimum: 100, maximum: 599 },
                  tenant: { type: 'string' },
                },
              },
            },
          },
        }),
      },
      parameters: [
        {
          name: 'Prefer',
          in: 'header',
          required: false,
          description: '`return=minimal` (RFC 7240): `results` lists only the rejected events, each with its index in the batch',
          schema: { type: 'string', example: 'return=minimal' },
        },
      ],
      responses: {
        200: {
          description: 'The counts and one result per event: accepted, duplicate or rejected (with its errors); with `Prefer: return=minimal`, only the rejected ones',
          headers: { 'Preference-Applied': { description: '`return=minimal` when the answer is minimal', schema: { type: 'string' } } },
        },
        400: { description: 'Not a batch', ...json(ERROR) },
      },
      security: bearer(['apim:usage_ingest']),
    },
  },
};


/** GET/PUT/DELETE of one party's spend limit on a subscription (docs/spend-limits.md). */
function spendLimitOperations(party: 'subscriber' | 'publisher', readScopes: string[], writeScopes: string[], notFound: string): Record<string, unknown> {
  const Party = party === 'subscriber' ? 'Subscriber' : 'Publisher';
  const answer = { description: 'Both parties’ limits, what applies, and the current period’s spend', ...json({ $ref: '#/components/schemas/Meterline.SpendLimit' }) };
  const common = {
    404: { description: notFound, ...json(ERROR) },
    409: { description: 'The subscription has no rated spend (its plan is not COMMERCIAL, or the billing engine does not bill it)', ...json(ERROR) },
    ...(party === 'publisher' ? { 403: { description: 'The API is another publisher’s', ...json(ERROR) } } : {}),
  };
  return {
    get: { tags: ['Meterline'], summary: `Show the spend limits of the subscription and the period's spend (${party})`, operationId: `meterline.get${Party}SpendLimit`, parameters: [pathId('subscriptionId')], responses: { 200: answer, ...common }, security: bearer(readScopes) },
    put: {
      tags: ['Meterline'],
      summary: `Set the ${party}'s spend limit on the subscription (re-evaluated at once: a lower amount may cap now, a higher one lifts a cap)`,
      operationId: `meterline.set${Party}SpendLimit`,
      parameters: [pathId('subscriptionId')],
      requestBody: {
        required: true,
        ...json({
          type: 'object',
          additionalProperties: false,
          required: ['amount'],
          properties: {
            amount: { type: 'string', pattern: '^\\d{1,15}(\\.\\d{1,3})?$', description: "A month's amount in the plan currency's major unit, at most the currency's decimal places", example: '50.00' },
            thresholds: { type: 'array', items: { type: 'integer', minimum: 1, maximum: 100 }, minItems: 1, maxItems: 20, uniqueItems: true, default: [50, 80, 100], description: 'Percentages that notify, ascending' },
            hardCap: { type: 'boolean', default: false, description: 'Refuse calls (access check and accessGuard, 403) once the period’s spend reaches the amount' },
          },
        }),
      },
      responses: { 200: answer, 400: { description: 'A bad body (the field named)', ...json(ERROR) }, ...common },
      security: bearer(writeScopes),
    },
    delete: {
      tags: ['Meterline'],
      summary: `Remove the ${party}'s spend limit from the subscription (lifts its cap at once; idempotent)`,
      operationId: `meterline.remove${Party}SpendLimit`,
      parameters: [pathId('subscriptionId')],
      responses: { 200: answer, ...common },
      security: bearer(writeScopes),
    },
  };
}

/**
 * The webhook operation, with the signature headers the configured engine declares (its
 * `webhooks` capability); an engine that pushes no events has no webhook operation.
 */
function webhookPath(signatureHeaders: readonly string[] | null): Record<string, Record<string, unknown>> {
  if (!signatureHeaders) return {};
  const headers = signatureHeaders.map((name) => ({ name, in: 'header', required: signatureHeaders.length === 1, schema: { type: 'string' } }));
  return {
    '/api/am/monetization/webhooks/{engine}/{tenantDomain}': {
      post: {
        tags: ['Meterline'],
        summary: "The billing engine's signed events for one tenant (`engine`: the configured `monetization_impl`)",
        operationId: 'meterline.billingWebhook',
        parameters: [pathId('engine'), pathId('tenantDomain'), ...headers],
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', description: 'The engine’s event, verified on its raw bytes' } } } },
        responses: {
          200: { description: 'Accepted', ...json({ type: 'object', properties: { received: { type: 'boolean' }, outcome: { type: 'string', enum: ['applied', 'duplicate', 'ignored', 'unknown_object'] } } }) },
          400: { description: 'Bad signature, stale timestamp, unknown tenant or tenant without a secret; nothing changed', ...json(ERROR) },
        },
        security: [],
      },
    },
  };
}

/**
 * The WSO2-derived document with Meterline's own operations and schemas added; the webhook's
 * signature headers are the engine's (`null`: it pushes no events).
 */
export function withExtensions(document: Record<string, unknown>, webhookSignatureHeaders: readonly string[] | null): Record<string, unknown> {
  const components = document.components as Record<string, Record<string, unknown>>;
  const securitySchemes = components.securitySchemes as { OAuth2Security: { flows: { clientCredentials: { scopes: Record<string, string> } } } };
  const scopes = securitySchemes.OAuth2Security.flows.clientCredentials.scopes;
  scopes['apim:usage_ingest'] ??= 'Push usage events and check subscription access (gateways)';
  return {
    ...document,
    paths: { ...(document.paths as Record<string, unknown>), ...EXTENSION_PATHS, ...webhookPath(webhookSignatureHeaders) },
    components: { ...components, schemas: { ...components.schemas, ...EXTENSION_SCHEMAS } },
  };
}
