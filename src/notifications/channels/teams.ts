import { DeliveryFailedError, type ChannelSender, type ChannelTarget } from '../channel';
import type { NotificationEvent } from '../events';
import { eventContext, eventFacts } from './facts';
import { DEFAULT_POST_TIMEOUT_MS, postJson } from './http-post';

/**
 * MS Teams: an Adaptive Card in a `message` activity, POSTed to the channel's incoming-webhook URL
 * (a Teams Workflows "post to a channel when a webhook request is received" URL takes the same
 * body). The shape is Microsoft's, "Send Adaptive Cards using an Incoming Webhook":
 * https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using#send-adaptive-cards-using-an-incoming-webhook
 * — `type` "message", `attachments` of `contentType` "application/vnd.microsoft.card.adaptive"
 * whose `content` is the card. The card: the event's summary as the title, then the event type,
 * tenant and time, then its data as a FactSet (https://adaptivecards.io/explorer/FactSet.html).
 */
export class TeamsChannelSender implements ChannelSender {
  readonly kind = 'teams' as const;

  constructor(private readonly options: { timeoutMs?: number } = {}) {}

  async send(event: NotificationEvent, channel: ChannelTarget): Promise<void> {
    const answer = await postJson(channel.target, teamsMessage(event), this.options.timeoutMs ?? DEFAULT_POST_TIMEOUT_MS);
    // The same page: a throttled connector answers 200 with this text in the body instead of a 429.
    if (answer.body.includes('HTTP error 429')) {
      throw new DeliveryFailedError('Teams throttled the webhook (HTTP error 429 in a 200 answer)', true);
    }
  }
}

export const ADAPTIVE_CARD_CONTENT_TYPE = 'application/vnd.microsoft.card.adaptive';

/** The body Teams receives for `event`. */
export function teamsMessage(event: NotificationEvent): unknown {
  const facts = eventFacts(event);
  return {
    type: 'message',
    attachments: [
      {
        contentType: ADAPTIVE_CARD_CONTENT_TYPE,
        contentUrl: null,
        content: {
          $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
          type: 'AdaptiveCard',
          version: '1.2',
          body: [
            { type: 'TextBlock', text: event.summary, weight: 'Bolder', size: 'Medium', wrap: true },
            { type: 'TextBlock', text: eventContext(event), isSubtle: true, spacing: 'None', wrap: true },
            ...(facts.length === 0 ? [] : [{ type: 'FactSet', facts: facts.map(({ name, value }) => ({ title: name, value })) }]),
          ],
        },
      },
    ],
  };
}
