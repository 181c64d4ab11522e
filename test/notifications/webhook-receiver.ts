import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the receiver got, with the outcome of its own Standard Webhooks check. */
export interface SignedDelivery {
  readonly path: string;
  readonly id: string | undefined;
  readonly timestamp: number;
  readonly body: { type: string; timestamp: string; data: Record<string, unknown> };
  readonly signatureValid: boolean;
}

/**
 * A local webhook receiver that checks each request as a Standard Webhooks consumer would
 * (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md,
 * "Verifying webhook authenticity"): the secret is `whsec_` + base64 key bytes; the signed content
 * is `${webhook-id}.${webhook-timestamp}.${raw body}`; `webhook-signature` is a space-separated
 * list of `v1,<base64 HMAC-SHA256>`, one of which must match. Written from the spec, independently
 * of src/notifications/webhook-sender.ts. Answers per path from a queue of statuses (then 200).
 */
export class WebhookReceiver {
  readonly received: SignedDelivery[] = [];
  private readonly queued = new Map<string, number[]>();
  private server: Server | undefined;

  constructor(private readonly secret: string) {}

  /** The next requests to `path` are answered with these statuses, in order; later ones 200. */
  answer(path: string, ...statuses: number[]): void {
    this.queued.set(path, [...(this.queued.get(path) ?? []), ...statuses]);
  }

  on(path: string): SignedDelivery[] {
    return this.received.filter((r) => r.path === path);
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      void readBody(req).then((raw) => {
        const path = req.url ?? '/';
        const id = header(req, 'webhook-id');
        const timestamp = Number(header(req, 'webhook-timestamp'));
        this.received.push({ path, id, timestamp, body: JSON.parse(raw), signatureValid: this.verify(id, header(req, 'webhook-timestamp'), raw, header(req, 'webhook-signature')) });
        const status = this.queued.get(path)?.shift() ?? 200;
        res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'no');
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private verify(id: string | undefined, timestamp: string | undefined, raw: string, signatures: string | undefined): boolean {
    if (!id || !timestamp || !signatures || !this.secret.startsWith('whsec_')) return false;
    const key = Buffer.from(this.secret.slice('whsec_'.length), 'base64');
    const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${raw}`).digest();
    return signatures.split(' ').some((entry) => {
      const [version, value] = entry.split(',');
      if (version !== 'v1' || value === undefined) return false;
      const given = Buffer.from(value, 'base64');
      return given.length === expected.length && timingSafeEqual(given, expected);
    });
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
