import { z } from 'zod';
import type { ApiActor } from '../../apim/apis.service';
import type { Principal } from '../auth/tokens';

/** WSO2's `limit`/`offset` query parameters (defaults 25 and 0). */
export const pageQuery = {
  limit: z.coerce.number().int().min(1).max(1000).default(25),
  offset: z.coerce.number().int().min(0).default(0),
};

/** WSO2's `Pagination` object; next/previous are relative links, empty at either end. */
export function pagination(path: string, page: { limit: number; offset: number }, total: number, extra: Record<string, string> = {}) {
  const link = (offset: number) => `${path}?${new URLSearchParams({ ...extra, limit: String(page.limit), offset: String(offset) })}`;
  return {
    offset: page.offset,
    limit: page.limit,
    total,
    next: page.offset + page.limit < total ? link(page.offset + page.limit) : '',
    previous: page.offset > 0 ? link(Math.max(0, page.offset - page.limit)) : '',
  };
}

/**
 * A string kept in a column of `max` characters, without control characters (none belongs in a
 * name or an id, and PostgreSQL cannot store NUL): refused here, naming the field, rather than
 * by the database.
 */
export function storedText(max: number) {
  return z.string().max(max).regex(/^[^\u0000-\u001f\u007f]*$/, 'must not contain control characters');
}

/** A path or query id (the UUID columns hold 256 characters); anything else cannot name one of our resources. */
export const resourceId = storedText(256).min(1);

/** The caller as the owner of APIs: its provider name is the token's `sub`; `apim:admin` acts for any provider. */
export function apiActor(principal: Principal): ApiActor {
  return { tenant: principal.tenant, subject: principal.subject, admin: principal.scopes.has('apim:admin') };
}
