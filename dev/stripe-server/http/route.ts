import type { AccountState } from '../state/account-state';
import type { World } from '../state/world';
import type { FormObject } from './form';

export type Method = 'GET' | 'POST' | 'DELETE';

/** What a handler gets: the acting account, decoded params and the server's world. */
export interface RequestContext {
  method: Method;
  path: string;
  pathParams: Record<string, string>;
  /** Decoded form body (POST) or query string (GET/DELETE); validate with `parseParams`. */
  params: FormObject;
  /** The account acted on: the platform, or the connected account named by `Stripe-Account`. */
  account: AccountState;
  /** The platform account that owns the API key. */
  platform: AccountState;
  world: World;
  requestId: string;
  idempotencyKey: string | null;
  /** The request's `Stripe-Version` header, if it sent one (otherwise the account's default). */
  apiVersion?: string;
}

/** An API endpoint: method, path pattern (`/v1/products/:id`) and handler returning the JSON body. */
export interface Route {
  method: Method;
  pattern: string;
  handle(ctx: RequestContext): unknown;
}

export function route(method: Method, pattern: string, handle: (ctx: RequestContext) => unknown): Route {
  return { method, pattern, handle };
}

/** A path parameter the router guarantees is present. */
export function pathParam(ctx: RequestContext, name: string): string {
  const value = ctx.pathParams[name];
  if (value === undefined) throw new Error(`route has no :${name} parameter`);
  return value;
}
