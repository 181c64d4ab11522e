import type { Method, Route } from './route';

interface CompiledRoute {
  route: Route;
  regex: RegExp;
  names: string[];
  specificity: number;
}

/** Compiles `/v1/products/:id` style patterns (also used by fault and rate-limit matching). */
export function compilePattern(pattern: string): { regex: RegExp; names: string[] } {
  const names: string[] = [];
  const source = pattern
    .split('/')
    .map((segment) => {
      if (segment.startsWith(':')) {
        names.push(segment.slice(1));
        return '([^/]+)';
      }
      if (segment === '*') return '.*';
      return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return { regex: new RegExp(`^${source}$`), names };
}

export interface RouteMatch {
  route: Route;
  pathParams: Record<string, string>;
}

/** Matches method + path to a route; literal segments win over parameters. */
export class Router {
  private readonly routes: CompiledRoute[];

  constructor(routes: Route[]) {
    this.routes = routes
      .map((route) => {
        const { regex, names } = compilePattern(route.pattern);
        return { route, regex, names, specificity: names.length };
      })
      .sort((a, b) => a.specificity - b.specificity);
  }

  match(method: Method, path: string): RouteMatch | undefined {
    for (const compiled of this.routes) {
      if (compiled.route.method !== method) continue;
      const found = compiled.regex.exec(path);
      if (!found) continue;
      const pathParams: Record<string, string> = {};
      compiled.names.forEach((name, i) => {
        pathParams[name] = decodeURIComponent(found[i + 1] ?? '');
      });
      return { route: compiled.route, pathParams };
    }
    return undefined;
  }

  /** True when the path exists for some other method (Stripe still answers 404 "Unrecognized request URL"). */
  knows(path: string): boolean {
    return this.routes.some((c) => c.regex.test(path));
  }
}
