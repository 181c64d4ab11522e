import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs on stdout. Redaction is a safety net: code must not log secrets, but a
 * config object or header logged by mistake still comes out masked.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'meterline' },
      redact: {
        paths: [
          'req.headers.authorization',
          '*.billing_engine_platform_account_key',
          '*.stripe_webhook_secret',
          '*.secret',
          '*.password',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
}
