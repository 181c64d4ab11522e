import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the demo shows of one Teams card: the title, the line under it and the facts. */
export interface ReceivedCard {
  readonly title: string;
  readonly context: string;
  readonly facts: ReadonlyArray<{ title: string; value: string }>;
}

export interface DemoTeamsReceiver {
  /** The "incoming webhook URL" the Teams channel posts to. */
  readonly url: string;
  readonly cards: ReceivedCard[];
  close(): Promise<void>;
}

/**
 * A stand-in for an MS Teams incoming webhook on 127.0.0.1: reads the Adaptive Card out of each
 * `message` Meterline posts (the shape Microsoft documents, see src/notifications/channels/teams.ts)
 * and answers 200 "1" as Teams does. Anything else it gets is a 400, so a wrong shape shows.
 */
export async function startDemoTeamsReceiver(): Promise<DemoTeamsReceiver> {
  const cards: ReceivedCard[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const card = readCard(Buffer.concat(chunks).toString('utf8'));
      if (card === undefined) {
        response.writeHead(400).end('not a message with an Adaptive Card');
        return;
      }
      cards.push(card);
      response.writeHead(200, { 'content-type': 'text/plain' }).end('1');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/webhookb2/demo-ops-channel`,
    cards,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

type Block = { type?: string; text?: string; facts?: Array<{ title: string; value: string }> };

function readCard(text: string): ReceivedCard | undefined {
  try {
    const message = JSON.parse(text) as { type?: string; attachments?: Array<{ contentType?: string; content?: { type?: string; body?: Block[] } }> };
    const attachment = message.attachments?.[0];
    if (message.type !== 'message' || attachment?.contentType !== 'application/vnd.microsoft.card.adaptive' || attachment.content?.type !== 'AdaptiveCard') return undefined;
    const blocks = attachment.content.body ?? [];
    const texts = blocks.filter((block) => block.type === 'TextBlock').map((block) => block.text ?? '');
    return { title: texts[0] ?? '', context: texts[1] ?? '', facts: blocks.find((block) => block.type === 'FactSet')?.facts ?? [] };
  } catch {
    return undefined;
  }
}

/** What the demo's last step saw: the cards the Teams channel received, by event type. */
export interface TeamsNotifications {
  delivered: number;
  eventTypes: string[];
}

type Deliveries = { list: Array<{ status: string; eventType: string; channelId: string }>; pagination: { total: number } };

/**
 * The demo's Teams channel: starts the stand-in receiver and adds it, through the admin REST
 * route, as carbon.super's MS Teams channel for every event.
 */
export async function addDemoTeamsChannel(call: RestCall, adminToken: string): Promise<{ receiver: DemoTeamsReceiver; channelId: string }> {
  const receiver = await startDemoTeamsReceiver();
  try {
    const channel = await call<{ id: string }>('POST', '/api/am/admin/v4/notifications/channels', adminToken, {
      body: { name: 'Ops on Teams', kind: 'teams', target: receiver.url, events: ['*'] },
    });
    return { receiver, channelId: channel.id };
  } catch (error) {
    await receiver.close();
    throw error;
  }
}

/**
 * Waits until the dispatcher has delivered what the outbox holds for the channel (none PENDING or
 * FAILED), checks the stand-in got exactly the DELIVERED ones, and prints the cards.
 */
export async function showTeamsCards(
  print: (line: string) => void,
  call: RestCall,
  adminToken: string,
  teams: { receiver: DemoTeamsReceiver; channelId: string },
): Promise<TeamsNotifications> {
  const deadline = performance.now() + 60_000;
  let ours: Deliveries['list'] = [];
  for (;;) {
    const all = await call<Deliveries>('GET', '/api/am/admin/v4/notifications/deliveries?limit=100', adminToken);
    ours = all.list.filter((delivery) => delivery.channelId === teams.channelId);
    const waiting = ours.filter((delivery) => delivery.status === 'PENDING' || delivery.status === 'FAILED');
    if (ours.length > 0 && waiting.length === 0) break;
    if (performance.now() > deadline) {
      throw new Error(ours.length === 0 ? 'no notification was recorded for the Teams channel in 60 s' : `${waiting.length} Teams deliveries still waiting after 60 s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const delivered = ours.filter((delivery) => delivery.status === 'DELIVERED');
  const { cards } = teams.receiver;
  if (cards.length !== delivered.length) throw new Error(`the Teams stand-in got ${cards.length} cards, the outbox says ${delivered.length} were delivered`);
  print(`${cards.length} cards posted to ${teams.receiver.url}:`);
  for (const card of cards) print(`  "${card.title}"  (${card.context.split(' · ')[0]})`);
  const shown = cards.find((card) => card.context.startsWith('subscription.approved ')) ?? cards.find((card) => card.context.startsWith('subscription.')) ?? cards[0];
  if (shown !== undefined) {
    print(`the card "${shown.title}" in full:`);
    print(`  ${shown.context}`);
    for (const fact of shown.facts) print(`  ${fact.title}: ${fact.value}`);
  }
  return { delivered: cards.length, eventTypes: cards.map((card) => card.context.split(' · ')[0] ?? '') };
}

/** The demo's REST client's `call`, as these helpers need it. */
type RestCall = <T = unknown>(method: string, path: string, token: string, options?: { body?: unknown; expect?: number }) => Promise<T>;
