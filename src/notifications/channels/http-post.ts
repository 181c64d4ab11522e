import { DeliveryFailedError } from '../channel';

/** What the receiver answered to a 2xx POST (some receivers say "failed" inside a 200). */
export interface PostAnswer {
  readonly status: number;
  readonly body: string;
}

/** One attempt's time limit: a hung receiver must not hold the dispatcher's lease. */
export const DEFAULT_POST_TIMEOUT_MS = 10_000;

/**
 * POSTs `payload` as JSON to `url` once, for the chat channels (Teams, Slack). Resolves on a 2xx
 * answer; otherwise throws {@link DeliveryFailedError}: retryable for a network failure, a
 * timeout, 408, 429 and 5xx (another attempt could succeed), not retryable for any other status
 * or a URL that cannot be posted to (only a changed channel helps).
 */
export async function postJson(url: string, payload: unknown, timeoutMs = DEFAULT_POST_TIMEOUT_MS): Promise<PostAnswer> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DeliveryFailedError('the channel target is not a URL', false);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new DeliveryFailedError(`the channel target must be an http(s) URL, not ${parsed.protocol}`, false);
  }
  let response: Response;
  try {
    response = await fetch(parsed, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(payload),
      redirect: 'error',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    // The URL is not logged: an incoming-webhook URL is itself the credential.
    throw new DeliveryFailedError(`POST to ${parsed.host} failed: ${describe(error)}`, true);
  }
  const body = await response.text().catch(() => '');
  if (response.status >= 200 && response.status < 300) return { status: response.status, body };
  const retryable = response.status === 408 || response.status === 429 || response.status >= 500;
  throw new DeliveryFailedError(`${parsed.host} answered HTTP ${response.status}${body === '' ? '' : `: ${body.slice(0, 200)}`}`, retryable);
}

function describe(error: unknown): string {
  // Duck-typed: the abort reason is a DOMException, not always an `Error` of this realm.
  const { name, message, cause } = (error ?? {}) as { name?: unknown; message?: unknown; cause?: { message?: unknown } };
  if (name === 'TimeoutError') return 'no answer in time';
  const text = typeof message === 'string' ? message : String(error);
  return typeof cause?.message === 'string' ? `${text} (${cause.message})` : text;
}
