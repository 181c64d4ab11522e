import { createHmac } from 'node:crypto';
import { DeliveryFailedError, type ChannelSender, type ChannelTarget } from './channel';
import type { NotificationEvent } from './events';

const SECRET_PREFIX = 'whsec_';

/**
 * A webhook signing secret as Standard Webhooks gives it: `whsec_` and the base64 of 24 to 64
 * random bytes (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md,
 * "Symmetric"). Answers the key bytes, or undefined for anything else.
 */
export function webhookSecretKey(secret: string): Buffer | undefined {
  if (!secret.startsWith(SECRET_PREFIX)) return undefined;
  const encoded = secret.slice(SECRET_PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || encoded.length % 4 !== 0) return undefined;
  const key = Buffer.from(encoded, 'base64');
  return key.length >= 24 && key.length <= 64 ? key : undefined;
}

/** `v1,` and the base64 HMAC-SHA256 of `${id}.${timestamp}.${body}` under the secret's key bytes. */
export function webhookSignature(key: Buffer, id: string, timestampSeconds: number, body: string): string {
  return `v1,${createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64')}`;
}

/** The JSON body a webhook channel receives: the event, in Standard Webhooks' `{type, timestamp, data}` envelope. */
export function webhookBody(event: NotificationEvent): string {
  const data = { ...event, occurredAt: event.occurredAt.toISOString() };
  return JSON.stringify({ type: event.type, timestamp: data.occurredAt, data });
}

/**
 * The `webhook` channel: POSTs the event to the channel's URL, signed as Standard Webhooks says
 * (`webhook-id`: the event id, the same on every attempt, so the receiver can drop repeats;
 * `webhook-timestamp`: the attempt's time in unix seconds; `webhook-signature`). A 2xx answer is
 * delivered; a network failure, a timeout, 408, 429 or 5xx is retryable; any other answer, or a
 * channel without a valid secret or URL, is not (only a changed channel helps).
 */
export class WebhookSender implements ChannelSender {
  readonly kind = 'webhook' as const;

  constructor(
    private readonly clock: () => Date,
    private readonly timeoutMs: number = 10_000,
  ) {}

  async send(event: NotificationEvent, channel: ChannelTarget): Promise<void> {
    const key = channel.secret === null ? undefined : webhookSecretKey(channel.secret);
    if (!key) throw new DeliveryFailedError('the webhook channel has no valid signing secret (whsec_…)', false);
    let url: URL;
    try {
      url = new URL(channel.target);
    } catch {
      throw new DeliveryFailedError('the channel target is not a URL', false);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new DeliveryFailedError(`the channel target must be an http(s) URL, not ${url.protocol}`, false);
    const body = webhookBody(event);
    const timestamp = Math.floor(this.clock().getTime() / 1000);
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'webhook-id': event.id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': webhookSignature(key, event.id, timestamp, body),
        },
        body,
        redirect: 'error',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      const { name, message } = (error ?? {}) as { name?: unknown; message?: unknown };
      throw new DeliveryFailedError(`POST to ${url.host} failed: ${name === 'TimeoutError' ? 'no answer in time' : String(message ?? error)}`, true);
    }
    const answer = await response.text().catch(() => '');
    if (response.status >= 200 && response.status < 300) return;
    const retryable = response.status === 408 || response.status === 429 || response.status >= 500;
    throw new DeliveryFailedError(`${url.host} answered HTTP ${response.status}${answer === '' ? '' : `: ${answer.slice(0, 200)}`}`, retryable);
  }
}
