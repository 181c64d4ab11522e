import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { configSchema } from '../../src/config/schema';
import { DeliveryFailedError, type ChannelTarget } from '../../src/notifications/channel';
import { EmailChannelSender, emailTargetProblem, type SmtpSettings } from '../../src/notifications/channels/email';
import type { NotificationEvent } from '../../src/notifications/events';
import { closedPort } from './local-receiver';

/**
 * The e-mail channel through nodemailer to a real local SMTP server (smtp-server, from npm), the
 * received message read back with mailparser. No database: run once whatever
 * METERLINE_TEST_DATABASES selects.
 */
interface Received {
  readonly user: string | undefined;
  readonly mailFrom: string | false;
  readonly rcptTo: string[];
  readonly mail: ParsedMail;
}

const received: Received[] = [];
const smtpError = (message: string, responseCode: number) => Object.assign(new Error(message), { responseCode });

const server = new SMTPServer({
  // Plain text on loopback: STARTTLS off (its built-in certificate is self-signed), AUTH allowed without TLS.
  disabledCommands: ['STARTTLS'],
  allowInsecureAuth: true,
  logger: false,
  onAuth(auth, _session, callback) {
    if (auth.username === 'meterline' && auth.password === 's3cret') return callback(null, { user: auth.username });
    return callback(smtpError('Invalid username or password', 535));
  },
  onRcptTo(address, _session, callback) {
    if (address.address === 'nobody@example.com') return callback(smtpError('No such mailbox', 550));
    if (address.address === 'busy@example.com') return callback(smtpError('Mailbox busy, try later', 451));
    return callback();
  },
  onData(stream, session, callback) {
    simpleParser(stream).then(
      (mail) => {
        received.push({
          user: session.user as string | undefined,
          mailFrom: session.envelope.mailFrom === false ? false : session.envelope.mailFrom.address,
          rcptTo: session.envelope.rcptTo.map((rcpt) => rcpt.address),
          mail,
        });
        callback();
      },
      (error: Error) => callback(error),
    );
  },
});

let smtp: SmtpSettings;
let sender: EmailChannelSender;
const others: EmailChannelSender[] = [];
beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  smtp = { host: '127.0.0.1', port, secure: false, user: 'meterline', password: 's3cret', from: 'Meterline <billing@example.com>' };
  sender = new EmailChannelSender(smtp);
});
afterAll(async () => {
  for (const each of [sender, ...others]) each.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const approved: NotificationEvent = {
  id: 'subscription.approved:carbon.super:sub-1',
  type: 'subscription.approved',
  tenantDomain: 'carbon.super',
  occurredAt: new Date('2026-03-04T05:06:07.000Z'),
  summary: 'Subscription of app1 to Hello API (Gold) was approved.',
  data: { subscriptionId: 'sub-1', apiName: 'Hello API', policyName: 'Gold <premium>', reason: null },
  subscriberEmail: 'dev@example.com',
};

function channel(target: string): ChannelTarget {
  return { id: 'ch-mail', kind: 'email', name: 'mail', target, secret: null };
}

async function failure(promise: Promise<void>): Promise<DeliveryFailedError> {
  const outcome: unknown = await promise.then(() => 'delivered', (error: unknown) => error);
  if (!(outcome instanceof DeliveryFailedError)) throw new Error(`expected a DeliveryFailedError, got ${String(outcome)}`);
  return outcome;
}

it('sends one message to the subscriber and the listed addresses, authenticated, in plain text and HTML', async () => {
  const before = received.length;
  await sender.send(approved, channel(' subscriber , ops@example.com,ops@example.com'));
  expect(received).toHaveLength(before + 1);
  const [message] = received.slice(before);
  expect(message?.user).toBe('meterline');
  expect(message?.mailFrom).toBe('billing@example.com');
  expect(message?.rcptTo).toEqual(['dev@example.com', 'ops@example.com']);
  expect(message?.mail.subject).toBe('Subscription of app1 to Hello API (Gold) was approved.');
  expect(message?.mail.from?.value).toEqual([{ name: 'Meterline', address: 'billing@example.com' }]);
  expect(message?.mail.text).toBe(
    [
      'Subscription of app1 to Hello API (Gold) was approved.',
      '',
      'subscriptionId: sub-1',
      'apiName: Hello API',
      'policyName: Gold <premium>',
      'reason: —',
      '',
      'subscription.approved · carbon.super · 2026-03-04T05:06:07.000Z',
      'Event id: subscription.approved:carbon.super:sub-1',
    ].join('\n'),
  );
  expect(message?.mail.html).toContain('<p><strong>Subscription of app1 to Hello API (Gold) was approved.</strong></p>');
  expect(message?.mail.html).toContain('<tr><th align="left">policyName</th><td>Gold &lt;premium&gt;</td></tr>');
});

it('without "subscriber" in the target, the subscriber is not a recipient', async () => {
  const before = received.length;
  await sender.send(approved, channel('ops@example.com'));
  expect(received.slice(before).map((message) => message.rcptTo)).toEqual([['ops@example.com']]);
});

it('a target that names nobody for this event, or a malformed address, fails without retries and sends nothing', async () => {
  const before = received.length;
  const noSubscriber = await failure(sender.send({ ...approved, subscriberEmail: null }, channel('subscriber')));
  expect(noSubscriber.retryable).toBe(false);
  const malformed = await failure(sender.send(approved, channel('ops, subscriber')));
  expect(malformed.retryable).toBe(false);
  expect(malformed.message).toContain('"ops"');
  expect(received).toHaveLength(before);
});

it('SMTP replies decide retries: 5xx (unknown mailbox, refused login) no, 4xx yes', async () => {
  expect((await failure(sender.send(approved, channel('nobody@example.com')))).retryable).toBe(false);
  expect((await failure(sender.send(approved, channel('busy@example.com')))).retryable).toBe(true);
  const wrongPassword = new EmailChannelSender({ ...smtp, password: 'wrong' });
  others.push(wrongPassword);
  expect((await failure(wrongPassword.send(approved, channel('ops@example.com')))).retryable).toBe(false);
});

it('an SMTP server that cannot be reached is retried; no SMTP configured is not', async () => {
  const unreachable = new EmailChannelSender({ ...smtp, port: await closedPort() });
  others.push(unreachable);
  expect((await failure(unreachable.send(approved, channel('ops@example.com')))).retryable).toBe(true);
  expect((await failure(new EmailChannelSender(undefined).send(approved, channel('ops@example.com')))).retryable).toBe(false);
});

it('reads its SMTP server from [apim.monetization.notifications.smtp] (port 587 and STARTTLS by default; a password needs a user)', () => {
  const read = (smtp: Record<string, unknown>) => configSchema.safeParse({ apim: { monetization: { notifications: { smtp } } } });
  const parsed = read({ host: 'smtp.example.com', user: 'meterline', password: 's3cret', from: 'Meterline <billing@example.com>' });
  expect(parsed.success && parsed.data.apim.monetization.notifications.smtp).toEqual({
    host: 'smtp.example.com',
    port: 587,
    secure: false,
    user: 'meterline',
    password: 's3cret',
    from: 'Meterline <billing@example.com>',
  } satisfies SmtpSettings);
  expect(configSchema.parse({}).apim.monetization.notifications.smtp).toBeUndefined();
  expect(read({ host: 'smtp.example.com', password: 'x', from: 'billing@example.com' }).error?.issues.map((issue) => issue.path.join('.'))).toEqual([
    'apim.monetization.notifications.smtp.user',
  ]);
  expect(read({ host: 'smtp.example.com', from: 'billing' }).success).toBe(false);
});

it('a target is addresses and/or "subscriber" (what the REST edge accepts)', () => {
  expect(emailTargetProblem('subscriber')).toBeUndefined();
  expect(emailTargetProblem('Subscriber, ops@example.com')).toBeUndefined();
  expect(emailTargetProblem(' , ')).toContain('must list');
  expect(emailTargetProblem('ops@example.com, finance')).toBe('"finance" is neither an e-mail address nor "subscriber"');
});
