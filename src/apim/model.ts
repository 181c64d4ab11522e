import type { BillingPlanKind, PolicyPricing, TenantRef } from '../domain/model';

/**
 * The gateway's own records as the REST API reads and writes them (WSO2's tables AM_API,
 * AM_POLICY_SUBSCRIPTION, AM_SUBSCRIBER, AM_APPLICATION, AM_SUBSCRIPTION and Meterline's
 * ML_API_POLICY). Plain data; validated at the edge.
 */

export const LIMIT_TYPES = ['REQUESTCOUNTLIMIT', 'BANDWIDTHLIMIT', 'EVENTCOUNTLIMIT'] as const;

/** A policy's quota, one of WSO2's ThrottleLimit kinds (Meterline stores it; the gateway enforces it). */
export type QuotaLimit =
  | { type: 'REQUESTCOUNTLIMIT'; timeUnit: string; unitTime: number; requestCount: number }
  | { type: 'BANDWIDTHLIMIT'; timeUnit: string; unitTime: number; dataAmount: number; dataUnit: string }
  | { type: 'EVENTCOUNTLIMIT'; timeUnit: string; unitTime: number; eventCount: number };

/** What a caller gives to create or update a subscription policy. */
export interface PolicyInput {
  name: string;
  displayName: string | null;
  description: string | null;
  limit: QuotaLimit;
  billingPlan: BillingPlanKind;
  pricing: PolicyPricing | null;
}

export interface PolicyRecord extends PolicyInput {
  uuid: string;
  tenant: TenantRef;
}

/** API lifecycle states (WSO2's, upper case as stored in AM_API.STATUS). */
export const API_STATES = ['CREATED', 'PROTOTYPED', 'PUBLISHED', 'BLOCKED', 'DEPRECATED', 'RETIRED'] as const;
export type ApiState = (typeof API_STATES)[number];

export interface ApiInput {
  name: string;
  /** WSO2's API_DISPLAY_NAME; null: the name. */
  displayName?: string | null;
  version: string;
  context: string;
  provider: string;
  type: string;
  /** The subscription policies (tiers) the API is sold on, by name. */
  policies: string[];
}

export interface ApiRecord extends ApiInput {
  /** AM_API.API_ID: internal, never shown. */
  id: number;
  uuid: string;
  status: ApiState;
  tenant: TenantRef;
  createdTime: string | null;
}

export interface SubscriberRecord {
  id: number;
  userId: string;
  email: string | null;
  tenant: TenantRef;
}

/** WSO2's application token types: JWT (self-contained, WSO2's default) or OAUTH (opaque UUID tokens). */
export type ApplicationTokenType = 'JWT' | 'OAUTH';

export interface ApplicationInput {
  name: string;
  throttlingPolicy: string;
  description: string | null;
  tokenType: ApplicationTokenType;
}

export interface ApplicationRecord extends ApplicationInput {
  id: number;
  uuid: string;
  status: string;
  owner: string;
  subscriberId: number;
}

export type SubscriptionStatus = 'UNBLOCKED' | 'ON_HOLD' | 'BLOCKED';

export interface SubscriptionRecord {
  id: number;
  uuid: string;
  tier: string;
  status: string;
  api: ApiRecord;
  application: ApplicationRecord;
  subscriber: { userId: string; email: string | null };
}
