import { compilePattern } from '../http/router';

/**
 * Which requests a fault or rate limit applies to. Every given field must
 * match; an empty matcher matches everything.
 */
export interface RequestMatcher {
  /** HTTP method, e.g. 'POST'. */
  method?: string;
  /** Exact path, a pattern like '/v1/products/:id' or '/v1/billing/*', or a RegExp. */
  path?: string | RegExp;
  /** The acting account id (platform or connected). */
  account?: string;
}

export interface RequestFacts {
  method: string;
  path: string;
  account: string | null;
}

export function compileMatcher(matcher: RequestMatcher = {}): (facts: RequestFacts) => boolean {
  const path = matcher.path;
  const pathTest =
    path === undefined ? () => true : path instanceof RegExp ? (p: string) => path.test(p) : (p: string) => compilePattern(path).regex.test(p);
  return (facts) =>
    (matcher.method === undefined || matcher.method.toUpperCase() === facts.method) &&
    (matcher.account === undefined || matcher.account === facts.account) &&
    pathTest(facts.path);
}
