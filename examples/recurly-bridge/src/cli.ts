import { startBridge, type BridgeOptions } from './bridge';

/**
 * Starts the bridge from flags or environment variables (a flag wins):
 *   --meterline-url / METERLINE_URL, --tenant / METERLINE_TENANT (default carbon.super),
 *   --signing-secret / INTEGRATION_SIGNING_SECRET, --inbound-secret / INTEGRATION_INBOUND_SECRET,
 *   --recurly-url / RECURLY_URL (default https://v3.recurly.com), --recurly-api-key / RECURLY_API_KEY,
 *   --port / BRIDGE_PORT (default 4200), --host / BRIDGE_HOST (default 127.0.0.1).
 */
function setting(flag: string, env: string, fallback?: string): string {
  const at = process.argv.indexOf(`--${flag}`);
  const value = (at >= 0 ? process.argv[at + 1] : undefined) ?? process.env[env] ?? fallback;
  if (value === undefined || value === '') throw new Error(`--${flag} (or ${env}) is required`);
  return value;
}

async function main(): Promise<void> {
  const options: BridgeOptions = {
    meterlineUrl: setting('meterline-url', 'METERLINE_URL').replace(/\/$/, ''),
    tenant: setting('tenant', 'METERLINE_TENANT', 'carbon.super'),
    signingSecret: setting('signing-secret', 'INTEGRATION_SIGNING_SECRET'),
    inboundSecret: setting('inbound-secret', 'INTEGRATION_INBOUND_SECRET'),
    recurlyUrl: setting('recurly-url', 'RECURLY_URL', 'https://v3.recurly.com').replace(/\/$/, ''),
    recurlyApiKey: setting('recurly-api-key', 'RECURLY_API_KEY'),
    port: Number(setting('port', 'BRIDGE_PORT', '4200')),
    host: setting('host', 'BRIDGE_HOST', '127.0.0.1'),
    log: (line) => process.stdout.write(`${new Date().toISOString()} ${line}\n`),
  };
  const bridge = await startBridge(options);
  process.stdout.write(`recurly bridge for ${options.tenant}: integration_url = ${bridge.integrationUrl}; Recurly webhook URL = ${bridge.recurlyWebhookUrl}\n`);
  const stop = () => void bridge.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
