import { startFakeRecurly } from './server';

/**
 * `node dist/examples/recurly-bridge/fake-recurly/cli.js --port 4100 --api-key key_1 --webhook-url http://127.0.0.1:4200/recurly/webhooks`
 * (or RECURLY_FAKE_PORT, RECURLY_API_KEY, RECURLY_WEBHOOK_URL).
 */
function flag(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

async function main(): Promise<void> {
  const apiKey = flag('api-key') ?? process.env.RECURLY_API_KEY;
  if (!apiKey) throw new Error('--api-key (or RECURLY_API_KEY) is required');
  const webhookUrl = flag('webhook-url') ?? process.env.RECURLY_WEBHOOK_URL;
  const server = await startFakeRecurly({ apiKey, port: Number(flag('port') ?? process.env.RECURLY_FAKE_PORT ?? 4100), ...(webhookUrl ? { webhookUrl } : {}) });
  process.stdout.write(`fake Recurly on ${server.url}${webhookUrl ? `, invoice notifications to ${webhookUrl}` : ''}\n`);
  const stop = () => void server.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
