import type { WireList } from '../wire';
import { resourceMissing } from './errors';

export interface PageParams {
  limit?: number | undefined;
  starting_after?: string | undefined;
  ending_before?: string | undefined;
}

/**
 * Stripe's cursor pagination over a newest-first list: `starting_after` gives
 * the page after that object, `ending_before` the page before it.
 */
export function paginate<T extends { id: string }>(
  newestFirst: T[],
  page: PageParams,
  url: string,
  noun = 'object',
): WireList<T> {
  const limit = page.limit ?? 10;
  if (page.starting_after !== undefined) {
    const index = newestFirst.findIndex((item) => item.id === page.starting_after);
    if (index < 0) throw resourceMissing(noun, page.starting_after, 'starting_after');
    const rest = newestFirst.slice(index + 1);
    return { object: 'list', data: rest.slice(0, limit), has_more: rest.length > limit, url };
  }
  if (page.ending_before !== undefined) {
    const index = newestFirst.findIndex((item) => item.id === page.ending_before);
    if (index < 0) throw resourceMissing(noun, page.ending_before, 'ending_before');
    const before = newestFirst.slice(0, index);
    return { object: 'list', data: before.slice(-limit), has_more: before.length > limit, url };
  }
  return { object: 'list', data: newestFirst.slice(0, limit), has_more: newestFirst.length > limit, url };
}
