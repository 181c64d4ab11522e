import type { ApiWithMonetization } from '../../../apim/apis.service';
import type { ApiRecord, ApiState, SubscriptionRecord } from '../../../apim/model';

/** WSO2's `APIInfo` (list items). */
export function toApiInfoDto(api: ApiRecord) {
  return {
    id: api.uuid,
    name: api.name,
    ...(api.displayName ? { displayName: api.displayName } : {}),
    context: api.context,
    version: api.version,
    provider: api.provider,
    type: api.type,
    lifeCycleStatus: api.status,
    ...(api.createdTime ? { createdTime: api.createdTime } : {}),
  };
}

/** WSO2's `API`, with the fields Meterline keeps. */
export function toApiDto(api: ApiWithMonetization) {
  return {
    ...toApiInfoDto(api),
    policies: api.policies,
    monetization: { enabled: api.monetization.enabled, properties: api.monetization.properties },
  };
}

/** The state as WSO2's lifecycle names it ("Published"). */
export function lifecycleStateName(state: ApiState): string {
  return state.charAt(0) + state.slice(1).toLowerCase();
}

/** WSO2's publisher `Subscription`. */
export function toPublisherSubscriptionDto(subscription: SubscriptionRecord) {
  return {
    subscriptionId: subscription.uuid,
    applicationInfo: {
      applicationId: subscription.application.uuid,
      name: subscription.application.name,
      subscriber: subscription.subscriber.userId,
      ...(subscription.application.description ? { description: subscription.application.description } : {}),
    },
    throttlingPolicy: subscription.tier,
    subscriptionStatus: subscription.status,
  };
}
