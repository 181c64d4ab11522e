/**
 * Standalone Stripe test server: `npm run stripe-server -- --port 12111`.
 * Prints `listening on http://127.0.0.1:<port>` once it accepts requests and
 * stops cleanly on SIGINT/SIGTERM.
 */
import { startStripeServer } from './server';

interface CliOptions {
  port: number;
  host: string;
  startAt?: number;
  seed?: number;
  aggregationDelaySeconds?: number;
}

function usage(message: string): never {
  process.stderr.write(`${message}\nusage: stripe-server [--port <n>] [--host <addr>] [--start-at <unix seconds>] [--seed <n>] [--aggregation-delay <seconds>]\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): CliOptions {
  const options: CliOptions = { port: 12111, host: '127.0.0.1' };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    const number = () => {
      if (value === undefined || !/^\d+$/.test(value)) usage(`${flag} needs a whole number`);
      i++;
      return Number(value);
    };
    switch (flag) {
      case '--port':
        options.port = number();
        break;
      case '--start-at':
        options.startAt = number();
        break;
      case '--seed':
        options.seed = number();
        break;
      case '--aggregation-delay':
        // The clock stands still unless a test moves it: 0 lets meter events count at once.
        options.aggregationDelaySeconds = number();
        break;
      case '--host':
        if (value === undefined) usage('--host needs an address');
        options.host = value;
        i++;
        break;
      case '--help':
        usage('Stripe-compatible local test server for Meterline.');
        break;
      default:
        usage(`unknown argument: ${flag}`);
    }
  }
  return options;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const serverOptions: Parameters<typeof startStripeServer>[0] = { port: options.port, host: options.host };
  if (options.startAt !== undefined) serverOptions.startAt = options.startAt;
  if (options.seed !== undefined) serverOptions.seed = options.seed;
  if (options.aggregationDelaySeconds !== undefined) serverOptions.aggregationDelaySeconds = options.aggregationDelaySeconds;
  const server = await startStripeServer(serverOptions);
  process.stdout.write(`listening on ${server.url}\n`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`stripe-server: ${signal}, shutting down\n`);
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`stripe-server: shutdown failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((error: unknown) => {
  process.stderr.write(`stripe-server: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
