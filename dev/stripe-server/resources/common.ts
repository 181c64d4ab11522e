import { applyExpand } from '../http/expand';
import type { RequestContext } from '../http/route';

/** Serialises a stored object for the response, applying `expand[]` within the acting account. */
export function render<T>(ctx: RequestContext, body: T, expand: string[] | undefined): T {
  return applyExpand(body, expand, (id) => {
    if (id.startsWith('acct_')) return ctx.world.registry.get(id)?.account;
    return ctx.account.findById(id);
  });
}

/** The `url` Stripe puts on a list. */
export function listUrl(ctx: RequestContext): string {
  return ctx.path;
}

/**
 * Stripe's metadata update: `metadata=` (empty) clears everything, a key set to
 * the empty string is removed, other keys are set.
 */
export function mergeMetadata(
  current: Record<string, string>,
  update: '' | Record<string, string> | undefined,
): Record<string, string> {
  if (update === undefined) return current;
  if (update === '') return {};
  const next = { ...current };
  for (const [key, value] of Object.entries(update)) {
    if (value === '') delete next[key];
    else next[key] = value;
  }
  return next;
}

/** Metadata given on create: the same rules starting from empty. */
export function initialMetadata(given: '' | Record<string, string> | undefined): Record<string, string> {
  return mergeMetadata({}, given);
}

/** Stripe's "emptyable" string params: the empty string means null. */
export function emptyToNull(value: string | undefined, current: string | null): string | null {
  if (value === undefined) return current;
  return value === '' ? null : value;
}
