import type { ChannelSender, ChannelTarget } from '../channel';
import type { NotificationEvent } from '../events';
import { eventContext, eventFacts } from './facts';
import { DEFAULT_POST_TIMEOUT_MS, postJson } from './http-post';

/**
 * Slack: a message POSTed to the channel's incoming-webhook URL, as Slack documents in "Sending
 * messages using incoming webhooks" (https://api.slack.com/messaging/webhooks): JSON with `text`
 * (the summary; the notification and fallback text) and Block Kit `blocks` (the summary in bold,
 * the data as section fields, the event type, tenant and time as context). Slack answers 200 "ok";
 * 400 invalid_payload, 403 action_prohibited, 404 channel_not_found and 410 channel_is_archived
 * are not retried, 429 and 500 rollup_error are
 * (https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks).
 */
export class SlackChannelSender implements ChannelSender {
  readonly kind = 'slack' as const;

  constructor(private readonly options: { timeoutMs?: number } = {}) {}

  async send(event: NotificationEvent, channel: ChannelTarget): Promise<void> {
    await postJson(channel.target, slackMessage(event), this.options.timeoutMs ?? DEFAULT_POST_TIMEOUT_MS);
  }
}

/** Block Kit limits (https://api.slack.com/reference/block-kit/blocks#section): 10 fields a section, 2,000 characters a field, 3,000 a text. */
const FIELDS_PER_SECTION = 10;
const FIELD_TEXT_MAX = 2_000;
const SECTION_TEXT_MAX = 3_000;

/** The body Slack receives for `event`. */
export function slackMessage(event: NotificationEvent): unknown {
  const fields = eventFacts(event).map(({ name, value }) => ({
    type: 'mrkdwn',
    text: clip(`*${escapeMrkdwn(name)}*\n${escapeMrkdwn(value)}`, FIELD_TEXT_MAX),
  }));
  const fieldSections = [];
  for (let start = 0; start < fields.length; start += FIELDS_PER_SECTION) {
    fieldSections.push({ type: 'section', fields: fields.slice(start, start + FIELDS_PER_SECTION) });
  }
  return {
    text: event.summary,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: clip(`*${escapeMrkdwn(event.summary)}*`, SECTION_TEXT_MAX) } },
      ...fieldSections,
      { type: 'context', elements: [{ type: 'mrkdwn', text: escapeMrkdwn(eventContext(event)) }] },
    ],
  };
}

/** Slack reads `&`, `<` and `>` as control characters (https://api.slack.com/reference/surfaces/formatting#escaping). */
function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
