import { createTransport } from 'nodemailer';
import { DeliveryFailedError, type ChannelSender, type ChannelTarget } from '../channel';
import type { NotificationEvent } from '../events';
import { eventContext, eventFacts } from './facts';

/**
 * The SMTP server e-mail goes through (`[apim.monetization.notifications.smtp]`). `secure` true is
 * TLS from the first byte (port 465); false starts in plain text and upgrades with STARTTLS when
 * the server offers it (port 587). No `user`, no authentication.
 */
export interface SmtpSettings {
  readonly host: string;
  readonly port: number;
  readonly secure: boolean;
  readonly user?: string | undefined;
  readonly password?: string | undefined;
  /** The sender, e.g. `Meterline <billing@example.com>`. */
  readonly from: string;
}

/** In a channel's target: the event's subscriber (`event.subscriberEmail`) is a recipient. */
export const SUBSCRIBER_RECIPIENT = 'subscriber';

/**
 * E-mail through SMTP with nodemailer. The channel's target is a comma-separated list of
 * addresses; the word `subscriber` in it adds the subscriber's address when the event carries one
 * (e.g. `subscriber` alone on a channel for `subscription.approved`, or `subscriber,ops@example.com`).
 * One message to all recipients, plain text and simple HTML. SMTP answers decide retries: a 4xx
 * reply or a connection failure is retried, a 5xx reply (unknown mailbox, refused login) is not.
 */
export class EmailChannelSender implements ChannelSender {
  readonly kind = 'email' as const;
  private readonly transport;

  /**
   * `smtp` undefined: no SMTP server configured, and e-mail channels fail without retries.
   * `timeoutMs` bounds connecting, the server's greeting and each wait for a reply (nodemailer's
   * own defaults are minutes; a dispatcher attempt should not hold its lease that long).
   */
  constructor(
    private readonly smtp: SmtpSettings | undefined,
    options: { timeoutMs?: number } = {},
  ) {
    const timeoutMs = options.timeoutMs ?? 10_000;
    this.transport =
      smtp === undefined
        ? undefined
        : createTransport({
            host: smtp.host,
            port: smtp.port,
            secure: smtp.secure,
            auth: smtp.user === undefined ? undefined : { user: smtp.user, pass: smtp.password ?? '' },
            connectionTimeout: timeoutMs,
            greetingTimeout: timeoutMs,
            socketTimeout: timeoutMs,
          });
  }

  async send(event: NotificationEvent, channel: ChannelTarget): Promise<void> {
    if (this.transport === undefined || this.smtp === undefined) {
      throw new DeliveryFailedError('no SMTP server is configured ([apim.monetization.notifications.smtp])', false);
    }
    const to = emailRecipients(channel.target, event);
    const message = emailMessage(event);
    try {
      await this.transport.sendMail({ from: this.smtp.from, to, subject: message.subject, text: message.text, html: message.html });
    } catch (error) {
      throw smtpFailure(error);
    }
  }

  /** Closes the transport's connections (nothing is kept open between messages, so this is quick). */
  close(): void {
    this.transport?.close();
  }
}

/**
 * Why `target` cannot be an e-mail channel's target, or undefined when it can: a comma-separated
 * list of addresses and/or the word `subscriber`, naming at least one entry. For the REST edge,
 * so a channel is refused when it is set rather than DEAD at its first delivery.
 */
export function emailTargetProblem(target: string): string | undefined {
  const entries = target.split(',').map((part) => part.trim()).filter((part) => part !== '');
  if (entries.length === 0) return `must list e-mail addresses and/or "${SUBSCRIBER_RECIPIENT}", separated by commas`;
  const wrong = entries.find((entry) => entry.toLowerCase() !== SUBSCRIBER_RECIPIENT && !ADDRESS.test(entry));
  return wrong === undefined ? undefined : `"${wrong}" is neither an e-mail address nor "${SUBSCRIBER_RECIPIENT}"`;
}

const ADDRESS = /^[^\s@<>,;]+@[^\s@<>,;]+$/;

/** The addresses `target` names for `event`; throws a non-retryable failure when it names none or a malformed one. */
export function emailRecipients(target: string, event: NotificationEvent): string[] {
  const recipients = new Set<string>();
  for (const entry of target.split(',').map((part) => part.trim()).filter((part) => part !== '')) {
    if (entry.toLowerCase() === SUBSCRIBER_RECIPIENT) {
      const subscriber = event.subscriberEmail?.trim();
      if (subscriber !== undefined && subscriber !== '') recipients.add(subscriber);
      continue;
    }
    if (!ADDRESS.test(entry)) {
      throw new DeliveryFailedError(`the channel target has "${entry}", which is neither an e-mail address nor "${SUBSCRIBER_RECIPIENT}"`, false);
    }
    recipients.add(entry);
  }
  if (recipients.size === 0) {
    throw new DeliveryFailedError(`no recipient: the channel target names only "${SUBSCRIBER_RECIPIENT}" and this event names no subscriber e-mail`, false);
  }
  return [...recipients];
}

export interface EmailMessage {
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

/** The e-mail for `event`: the summary as the subject, the data as a list (text) and a table (HTML). */
export function emailMessage(event: NotificationEvent): EmailMessage {
  const facts = eventFacts(event);
  const context = eventContext(event);
  const text = [event.summary, '', ...facts.map(({ name, value }) => `${name}: ${value}`), '', context, `Event id: ${event.id}`].join('\n');
  const rows = facts.map(({ name, value }) => `<tr><th align="left">${escapeHtml(name)}</th><td>${escapeHtml(value)}</td></tr>`).join('');
  const html =
    `<p><strong>${escapeHtml(event.summary)}</strong></p>` +
    (rows === '' ? '' : `<table cellpadding="4">${rows}</table>`) +
    `<p style="color:#666">${escapeHtml(context)}<br>Event id: ${escapeHtml(event.id)}</p>`;
  // A subject is one line: the summary is one sentence, but data-derived text could carry a break.
  return { subject: event.summary.replace(/\s+/g, ' ').trim(), text, html };
}

function smtpFailure(error: unknown): DeliveryFailedError {
  const { responseCode, code, message } = (error ?? {}) as { responseCode?: unknown; code?: unknown; message?: unknown };
  const text = typeof message === 'string' ? message : String(error);
  if (typeof responseCode === 'number') {
    // RFC 5321 §4.2.1: 4yz is a transient failure (try again), 5yz a permanent one.
    return new DeliveryFailedError(`SMTP ${responseCode}: ${text}`, responseCode < 500);
  }
  // No SMTP reply: the connection, DNS, TLS or a timeout failed; another attempt may reach the server.
  // A configuration the server refuses outright (no credentials it accepts) will not change by retrying.
  const permanent = code === 'EAUTH' || code === 'ENOAUTH' || code === 'ECONFIG' || code === 'EENVELOPE';
  return new DeliveryFailedError(`SMTP ${typeof code === 'string' ? code : 'failure'}: ${text}`, !permanent);
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
