/** A failed REST call: what was asked, the status and the API's own description of the problem. */
export class RestCallError extends Error {
  override readonly name = 'RestCallError';
  constructor(
    readonly call: string,
    readonly status: number,
    readonly description: string,
  ) {
    super(`${call} answered ${status}: ${description}`);
  }
}

/**
 * The demo's HTTP client for Meterline's REST API, as any WSO2 client would call it: a bearer
 * token per role, JSON in and out. A status other than the expected one is a `RestCallError`.
 */
export class RestClient {
  constructor(readonly baseUrl: string) {}

  async call<T = any>(method: string, path: string, token: string, options: { body?: unknown; expect?: number } = {}): Promise<T> { // eslint-disable-line @typescript-eslint/no-explicit-any
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    const json = text !== '' && (response.headers.get('content-type') ?? '').includes('json') ? (JSON.parse(text) as unknown) : undefined;
    const expected = options.expect ?? (method === 'POST' ? 201 : 200);
    if (response.status !== expected) {
      const description = (json as { description?: string; message?: string } | undefined)?.description ?? (json as { message?: string } | undefined)?.message ?? text.slice(0, 300);
      throw new RestCallError(`${method} ${path.split('?')[0]}`, response.status, description);
    }
    return json as T;
  }
}

/** Meterline's WSO2-compatible base paths. */
export const ADMIN = '/api/am/admin/v4';
export const PUBLISHER = '/api/am/publisher/v4';
export const DEVPORTAL = '/api/am/devportal/v3';
export const USAGE = '/api/am/usage/v1';

/** The local Stripe server's test controls (`/_test/...`, JSON, no key). */
export async function stripeControl<T = unknown>(stripeUrl: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${stripeUrl}/_test${path}`, {
    method: body === undefined && path === '/clock' ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json' },
    ...(body === undefined && path === '/clock' ? {} : { body: JSON.stringify(body ?? {}) }),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`the local Stripe server's control ${path} answered ${response.status}: ${text.slice(0, 300)}`);
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

/** The local MyFatoorah server's test controls (`/_test/...`, JSON, no token). */
export async function engineServerControl<T = unknown>(serverUrl: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${serverUrl}/_test${path}`, {
    method,
    ...(method === 'POST' ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body ?? {}) } : {}),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`the local MyFatoorah server's control ${path} answered ${response.status}: ${text.slice(0, 300)}`);
  return (text === '' ? undefined : JSON.parse(text)) as T;
}
