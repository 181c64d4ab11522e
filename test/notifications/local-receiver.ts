import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request a {@link LocalReceiver} got. */
export interface ReceivedRequest {
  readonly method: string;
  readonly path: string;
  readonly contentType: string | undefined;
  readonly body: unknown;
}

/** What the receiver answers on a path; `hang` never answers (a timeout test). */
export type ReceiverAnswer = { status: number; body: string } | 'hang';

/**
 * A local HTTP receiver standing in for an incoming-webhook endpoint (Teams, Slack): records each
 * request's JSON body and answers per path as the test says (default 200 with `defaultBody`).
 */
export class LocalReceiver {
  readonly received: ReceivedRequest[] = [];
  private readonly answers = new Map<string, ReceiverAnswer>();
  private readonly hanging: Array<() => void> = [];
  private server: Server | undefined;

  constructor(private readonly defaultBody: string) {}

  answer(path: string, answer: ReceiverAnswer): void {
    this.answers.set(path, answer);
  }

  url(path: string): string {
    const port = (this.server?.address() as AddressInfo | null)?.port;
    if (port === undefined) throw new Error('the receiver is not listening');
    return `http://127.0.0.1:${port}${path}`;
  }

  async start(): Promise<void> {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // kept as text: the test asserts JSON where it expects it
        }
        const path = request.url ?? '/';
        this.received.push({ method: request.method ?? '', path, contentType: request.headers['content-type'], body });
        const answer = this.answers.get(path) ?? { status: 200, body: this.defaultBody };
        if (answer === 'hang') {
          this.hanging.push(() => response.destroy());
          return;
        }
        response.writeHead(answer.status, { 'content-type': 'text/plain' }).end(answer.body);
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    for (const release of this.hanging.splice(0)) release();
    await new Promise<void>((resolve) => (this.server === undefined ? resolve() : this.server.close(() => resolve())));
  }
}

/** A local port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
