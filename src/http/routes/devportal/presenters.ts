import type { ApplicationWithCount } from '../../../apim/applications.service';
import type { SubscriptionRecord } from '../../../apim/model';

/** WSO2's devportal `ApplicationInfo` (list items). */
export function toApplicationInfoDto(application: ApplicationWithCount) {
  return {
    applicationId: application.uuid,
    name: application.name,
    throttlingPolicy: application.throttlingPolicy,
    ...(application.description ? { description: application.description } : {}),
    status: application.status,
    groups: [],
    subscriptionCount: application.subscriptionCount,
    attributes: {},
    owner: application.owner,
  };
}

/** WSO2's devportal `Application`. */
export function toApplicationDto(application: ApplicationWithCount) {
  return { ...toApplicationInfoDto(application), tokenType: application.tokenType };
}

/** WSO2's devportal `Subscription`, with the API and application it joins. */
export function toDevportalSubscriptionDto(subscription: SubscriptionRecord) {
  const { api, application } = subscription;
  return {
    subscriptionId: subscription.uuid,
    applicationId: application.uuid,
    apiId: api.uuid,
    apiInfo: {
      id: api.uuid,
      name: api.name,
      context: api.context,
      version: api.version,
      type: api.type,
      provider: api.provider,
      lifeCycleStatus: api.status,
      throttlingPolicies: api.policies,
    },
    applicationInfo: {
      applicationId: application.uuid,
      name: application.name,
      throttlingPolicy: application.throttlingPolicy,
      status: application.status,
      owner: application.owner,
    },
    throttlingPolicy: subscription.tier,
    status: subscription.status,
  };
}
