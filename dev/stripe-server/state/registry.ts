import { newId, stableId } from '../core/ids';
import type { WireAccount } from '../wire';
import { AccountState } from './account-state';

export interface ConnectedAccountInput {
  type: 'standard' | 'express' | 'custom' | null;
  country: string;
  email: string | null;
  metadata: Record<string, string>;
  businessType: WireAccount['business_type'];
  defaultCurrency: string;
  /** `business_profile[name]` (and `[url]`) when given on create. */
  businessName?: string | null;
  businessUrl?: string | null;
}

function accountObject(id: string, created: number, input: ConnectedAccountInput): WireAccount {
  return {
    id,
    object: 'account',
    business_profile:
      input.businessName || input.businessUrl
        ? {
            mcc: null,
            minority_owned_business_designation: null,
            name: input.businessName ?? null,
            specified_commercial_transactions_act_url: null,
            support_address: null,
            support_email: null,
            support_phone: null,
            support_url: null,
            url: input.businessUrl ?? null,
          }
        : null,
    business_type: input.businessType ?? null,
    capabilities: {},
    charges_enabled: true,
    country: input.country,
    created,
    default_currency: input.defaultCurrency,
    details_submitted: true,
    email: input.email,
    metadata: input.metadata,
    payouts_enabled: true,
    settings: null,
    // Accounts created with `controller` instead of `type` report 'none' in Stripe.
    type: input.type ?? 'none',
  };
}

/**
 * Which account a request acts on.
 *
 * Any `sk_test_` key is a platform account, derived from the key so the same
 * key always selects the same account (also across restarts). Connected
 * accounts are created by a platform and reachable only from it, through the
 * `Stripe-Account` header.
 */
export class AccountRegistry {
  private readonly accounts = new Map<string, AccountState>();

  constructor(private readonly now: () => number) {}

  platformForKey(secretKey: string): AccountState {
    const id = stableId('acct', secretKey);
    let state = this.accounts.get(id);
    if (!state) {
      state = new AccountState(
        accountObject(id, this.now(), {
          type: 'standard',
          country: 'US',
          email: null,
          metadata: {},
          businessType: null,
          defaultCurrency: 'usd',
        }),
        null,
      );
      this.accounts.set(id, state);
    }
    return state;
  }

  createConnected(platform: AccountState, input: ConnectedAccountInput): AccountState {
    const state = new AccountState(accountObject(newId('acct', 16), this.now(), input), platform.id);
    this.accounts.set(state.id, state);
    return state;
  }

  /** The account a `Stripe-Account` header selects for this platform, or undefined if it may not. */
  resolve(platform: AccountState, requested: string): AccountState | undefined {
    if (requested === platform.id) return platform;
    const state = this.accounts.get(requested);
    return state && state.platformId === platform.id ? state : undefined;
  }

  get(id: string): AccountState | undefined {
    return this.accounts.get(id);
  }

  connectedOf(platform: AccountState): AccountState[] {
    return [...this.accounts.values()].filter((a) => a.platformId === platform.id);
  }

  all(): AccountState[] {
    return [...this.accounts.values()];
  }

  reset(): void {
    this.accounts.clear();
  }
}
