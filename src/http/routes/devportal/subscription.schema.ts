import { wso2Body } from '../../openapi/wso2-body';
import { resourceId, storedText } from '../common';

/**
 * WSO2's devportal `Subscription` as Meterline accepts it. Subscribing uses the application, the
 * API and `throttlingPolicy`; the other fields of WSO2's schema (`requestedThrottlingPolicy`,
 * `status`, and the read-only ones a client sends back: `subscriptionId`, `apiInfo`,
 * `applicationInfo`, `redirectionParams`) are type-checked against WSO2's schema and ignored:
 * Meterline has no subscription approval workflow, so there is no pending tier.
 */
export const subscriptionBody = wso2Body('devportal', 'Subscription', {
  applicationId: resourceId,
  apiId: resourceId,
  throttlingPolicy: storedText(512).min(1),
});

/**
 * The same schema for a change of business plan (PUT): the devportal sends the subscription with
 * its current tier in `throttlingPolicy` and the new one in `requestedThrottlingPolicy`; a client
 * that sends only `throttlingPolicy` asks for that tier. `status` is ignored: blocking is the
 * publisher's.
 */
export const subscriptionUpdateBody = wso2Body('devportal', 'Subscription', {
  applicationId: resourceId,
  apiId: resourceId.optional(),
  throttlingPolicy: storedText(512).min(1),
  requestedThrottlingPolicy: storedText(512).min(1).nullish(),
});
