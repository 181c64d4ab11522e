import { DeliveryFailedError, type ChannelSender, type ChannelTarget } from '../../src/notifications/channel';
import { SlackChannelSender } from '../../src/notifications/channels/slack';
import { TeamsChannelSender } from '../../src/notifications/channels/teams';
import type { NotificationEvent } from '../../src/notifications/events';
import { closedPort, LocalReceiver } from './local-receiver';

/**
 * The chat channels (MS Teams and Slack incoming webhooks) against a local HTTP receiver: the
 * exact documented body each receives, and which failures the dispatcher may retry. No database:
 * run once whatever METERLINE_TEST_DATABASES selects.
 */
const approved: NotificationEvent = {
  id: 'subscription.approved:carbon.super:sub-1',
  type: 'subscription.approved',
  tenantDomain: 'carbon.super',
  occurredAt: new Date('2026-03-04T05:06:07.000Z'),
  summary: 'Subscription of app1 to Hello API (Gold) was approved.',
  data: { subscriptionId: 'sub-1', apiName: 'Hello API', policyName: 'Gold', amount: '12.50', reason: null, trial: false, calls: 3 },
  subscriberEmail: 'dev@example.com',
};

function channel(kind: 'teams' | 'slack', target: string): ChannelTarget {
  return { id: 'ch-1', kind, name: `${kind} ops`, target, secret: null };
}

async function failure(sender: ChannelSender, target: string): Promise<DeliveryFailedError> {
  const outcome: unknown = await sender.send(approved, channel(sender.kind as 'teams' | 'slack', target)).then(
    () => 'delivered',
    (error: unknown) => error,
  );
  if (!(outcome instanceof DeliveryFailedError)) throw new Error(`expected a DeliveryFailedError, got ${String(outcome)}`);
  return outcome;
}

const receiver = new LocalReceiver('1');
let refusedUrl: string;
beforeAll(async () => {
  await receiver.start();
  refusedUrl = `http://127.0.0.1:${await closedPort()}/webhook`;
  receiver.answer('/status/400', { status: 400, body: 'invalid_payload' });
  receiver.answer('/status/404', { status: 404, body: 'channel_not_found' });
  receiver.answer('/status/410', { status: 410, body: 'channel_is_archived' });
  receiver.answer('/status/429', { status: 429, body: 'rate limited' });
  receiver.answer('/status/500', { status: 500, body: 'rollup_error' });
  receiver.answer('/status/202', { status: 202, body: '' });
  receiver.answer('/teams-throttled', { status: 200, body: 'Microsoft Teams endpoint returned HTTP error 429 with ContextId ...' });
  receiver.answer('/hang', 'hang');
});
afterAll(() => receiver.stop());

describe('MS Teams incoming webhook', () => {
  const teams = new TeamsChannelSender();

  it('posts one Adaptive Card in a message attachment: the summary as the title, the data as a FactSet', async () => {
    await teams.send(approved, channel('teams', receiver.url('/teams/ok')));
    const request = receiver.received.find((r) => r.path === '/teams/ok');
    expect(request?.method).toBe('POST');
    expect(request?.contentType).toBe('application/json');
    expect(request?.body).toEqual({
      type: 'message',
      attachments: [
        {
          contentType: 'application/vnd.microsoft.card.adaptive',
          contentUrl: null,
          content: {
            $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
            type: 'AdaptiveCard',
            version: '1.2',
            body: [
              { type: 'TextBlock', text: 'Subscription of app1 to Hello API (Gold) was approved.', weight: 'Bolder', size: 'Medium', wrap: true },
              { type: 'TextBlock', text: 'subscription.approved · carbon.super · 2026-03-04T05:06:07.000Z', isSubtle: true, spacing: 'None', wrap: true },
              {
                type: 'FactSet',
                facts: [
                  { title: 'subscriptionId', value: 'sub-1' },
                  { title: 'apiName', value: 'Hello API' },
                  { title: 'policyName', value: 'Gold' },
                  { title: 'amount', value: '12.50' },
                  { title: 'reason', value: '—' },
                  { title: 'trial', value: 'false' },
                  { title: 'calls', value: '3' },
                ],
              },
            ],
          },
        },
      ],
    });
  });

  it('takes a 202 (a Teams Workflows webhook accepts asynchronously) as delivered', async () => {
    await expect(teams.send(approved, channel('teams', receiver.url('/status/202')))).resolves.toBeUndefined();
  });

  it('retries a throttled connector, which answers 200 with "HTTP error 429" in the body', async () => {
    expect((await failure(teams, receiver.url('/teams-throttled'))).retryable).toBe(true);
  });
});

describe('Slack incoming webhook', () => {
  const slack = new SlackChannelSender();

  it('posts text (the summary) and blocks: the summary, the data as fields, the event as context', async () => {
    await slack.send(approved, channel('slack', receiver.url('/slack/ok')));
    const request = receiver.received.find((r) => r.path === '/slack/ok');
    expect(request?.method).toBe('POST');
    expect(request?.contentType).toBe('application/json');
    expect(request?.body).toEqual({
      text: 'Subscription of app1 to Hello API (Gold) was approved.',
      blocks: [
        { type: 'section', text: { type: 'mrkdwn', text: '*Subscription of app1 to Hello API (Gold) was approved.*' } },
        {
          type: 'section',
          fields: [
            { type: 'mrkdwn', text: '*subscriptionId*\nsub-1' },
            { type: 'mrkdwn', text: '*apiName*\nHello API' },
            { type: 'mrkdwn', text: '*policyName*\nGold' },
            { type: 'mrkdwn', text: '*amount*\n12.50' },
            { type: 'mrkdwn', text: '*reason*\n—' },
            { type: 'mrkdwn', text: '*trial*\nfalse' },
            { type: 'mrkdwn', text: '*calls*\n3' },
          ],
        },
        { type: 'context', elements: [{ type: 'mrkdwn', text: 'subscription.approved · carbon.super · 2026-03-04T05:06:07.000Z' }] },
      ],
    });
  });

  it('escapes &, < and > in mrkdwn and splits more than ten facts over sections (Block Kit limits)', async () => {
    const data = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`k${i}`, i === 0 ? 'a<b>&c' : String(i)]));
    await slack.send({ ...approved, summary: 'Tom & Jerry <ops>', data }, channel('slack', receiver.url('/slack/many')));
    const body = receiver.received.find((r) => r.path === '/slack/many')?.body as { text: string; blocks: Array<{ fields?: Array<{ text: string }>; text?: { text: string } }> };
    expect(body.text).toBe('Tom & Jerry <ops>');
    expect(body.blocks[0]?.text?.text).toBe('*Tom &amp; Jerry &lt;ops&gt;*');
    expect(body.blocks[1]?.fields).toHaveLength(10);
    expect(body.blocks[1]?.fields?.[0]?.text).toBe('*k0*\na&lt;b&gt;&amp;c');
    expect(body.blocks[2]?.fields?.map((field) => field.text)).toEqual(['*k10*\n10', '*k11*\n11']);
  });
});

describe.each([
  ['teams', new TeamsChannelSender(), new TeamsChannelSender({ timeoutMs: 200 })],
  ['slack', new SlackChannelSender(), new SlackChannelSender({ timeoutMs: 200 })],
] as const)('%s failures', (_kind, sender, impatient) => {
  it.each([
    ['/status/500', true],
    ['/status/429', true],
    ['/status/400', false],
    ['/status/404', false],
    ['/status/410', false],
  ])('answer at %s: retryable %s', async (path, retryable) => {
    const error = await failure(sender, receiver.url(path));
    expect(error.retryable).toBe(retryable);
    expect(error.message).toContain(`HTTP ${path.slice(-3)}`);
  });

  it('a refused connection and a receiver that never answers are retryable', async () => {
    expect((await failure(sender, refusedUrl)).retryable).toBe(true);
    const hung = await failure(impatient, receiver.url('/hang'));
    expect(hung.retryable).toBe(true);
    expect(hung.message).toContain('no answer in time');
  });

  it('a target that is not an http(s) URL is not retryable', async () => {
    expect((await failure(sender, 'not a url')).retryable).toBe(false);
    expect((await failure(sender, 'ftp://127.0.0.1/hook')).retryable).toBe(false);
  });
});
