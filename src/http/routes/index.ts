import type { AnyRoute } from '../route';
import { createSubscriptionPolicy } from './admin/create-subscription-policy';
import { deleteSubscriptionPolicy } from './admin/delete-subscription-policy';
import { getSubscriptionPolicy } from './admin/get-subscription-policy';
import { listSubscriptionPolicies } from './admin/list-subscription-policies';
import { updateSubscriptionPolicy } from './admin/update-subscription-policy';
import { createApplication } from './devportal/create-application';
import { createSubscription } from './devportal/create-subscription';
import { createSubscriptions } from './devportal/create-subscriptions';
import { deleteApplication } from './devportal/delete-application';
import { deleteDevportalSubscription } from './devportal/delete-subscription';
import { getApplication } from './devportal/get-application';
import { getDevportalSubscription } from './devportal/get-subscription';
import { getDevportalSubscriptionUsage } from './devportal/get-subscription-usage';
import { listApplications } from './devportal/list-applications';
import { listDevportalSubscriptions } from './devportal/list-subscriptions';
import { getThrottlingPolicy, listThrottlingPolicies } from './devportal/throttling-policies';
import { updateApplication } from './devportal/update-application';
import { updateDevportalSubscription } from './devportal/update-subscription';
import { blockSubscription, changeSubscriptionBusinessPlan, unblockSubscription } from './publisher/block-subscription';
import { changeApiLifecycle } from './publisher/change-api-lifecycle';
import { createApi } from './publisher/create-api';
import { getApi } from './publisher/get-api';
import { getApiMonetization } from './publisher/get-api-monetization';
import { getApiRevenue } from './publisher/get-api-revenue';
import { getPublisherSettings } from './publisher/get-settings';
import { getPublisherSubscriptionUsage } from './publisher/get-subscription-usage';
import { listApis } from './publisher/list-apis';
import { listPublisherSubscriptions } from './publisher/list-subscriptions';
import { monetizeApi } from './publisher/monetize-api';
import { getApiSubscriptionPolicies } from './publisher/api-subscription-policies';
import { getPublisherThrottlingPolicy, listPublisherThrottlingPolicies, listStreamingSubscriptionPolicies } from './publisher/throttling-policies';
import { updateApi } from './publisher/update-api';

/**
 * Every REST operation Meterline implements. Order matters only where paths overlap:
 * `/apis/change-lifecycle` is registered before `/apis/{apiId}`, and
 * `/throttling-policies/streaming/subscription` before `/throttling-policies/{policyLevel}/{policyName}`.
 */
export const ROUTES: readonly AnyRoute[] = [
  createSubscriptionPolicy,
  listSubscriptionPolicies,
  getSubscriptionPolicy,
  updateSubscriptionPolicy,
  deleteSubscriptionPolicy,
  createApi,
  listApis,
  changeApiLifecycle,
  getApi,
  updateApi,
  monetizeApi,
  getApiMonetization,
  getApiRevenue,
  getApiSubscriptionPolicies,
  listPublisherSubscriptions,
  getPublisherSubscriptionUsage,
  getPublisherSettings,
  blockSubscription,
  unblockSubscription,
  changeSubscriptionBusinessPlan,
  listStreamingSubscriptionPolicies,
  listPublisherThrottlingPolicies,
  getPublisherThrottlingPolicy,
  createApplication,
  listApplications,
  getApplication,
  updateApplication,
  deleteApplication,
  createSubscription,
  createSubscriptions,
  listDevportalSubscriptions,
  getDevportalSubscription,
  updateDevportalSubscription,
  deleteDevportalSubscription,
  getDevportalSubscriptionUsage,
  listThrottlingPolicies,
  getThrottlingPolicy,
];
