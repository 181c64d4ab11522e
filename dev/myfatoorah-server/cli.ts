/**
 * Standalone MyFatoorah test server: `npm run myfatoorah-server -- --port 12112 --account mf_test_kwt:KWT`.
 * Prints `listening on http://127.0.0.1:<port>` once it accepts requests, then one line per account,
 * and stops cleanly on SIGINT/SIGTERM.
 */
import { readFileSync } from 'node:fs';
import type { AccountConfig, CountryIso } from './accounts';
import { startMyFatoorahServer, type MyFatoorahServerOptions } from './server';

const USAGE = `usage: myfatoorah-server [--port <n>] [--host <addr>] [--config <accounts.json>]
  [--account <token>[:<COUNTRY>[:<CUR>,<CUR>...]]]... [--webhook <token>=<url>]... [--webhook-secret <token>=<secret>]...
  [--clock wall|manual] [--start-at <ISO date>]
Without accounts it serves one: token mf_test_kwt, country KWT, currency KWD, webhook secret whsec_kwt_test.`;

function usage(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): MyFatoorahServerOptions {
  const options: MyFatoorahServerOptions = { port: 12112, host: '127.0.0.1', clock: 'wall' };
  const accounts: AccountConfig[] = [];
  const webhooks: Array<[string, 'url' | 'secret', string]> = [];
  const pair = (flag: string, value: string | undefined): [string, string] => {
    const at = value?.indexOf('=') ?? -1;
    if (value === undefined || at <= 0) usage(`${flag} takes <token>=<value>`);
    return [value.slice(0, at), value.slice(at + 1)];
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === '--help') usage('MyFatoorah-compatible local test server for Meterline.');
    if (value === undefined) usage(`${flag} needs a value`);
    i++;
    switch (flag) {
      case '--port':
        if (!/^\d+$/.test(value)) usage('--port needs a whole number');
        options.port = Number(value);
        break;
      case '--host':
        options.host = value;
        break;
      case '--config': {
        const parsed = JSON.parse(readFileSync(value, 'utf8')) as { accounts?: AccountConfig[] };
        if (!Array.isArray(parsed.accounts)) usage(`${value} must hold { "accounts": [ ... ] }`);
        accounts.push(...parsed.accounts);
        break;
      }
      case '--account': {
        const [token, country, currencies] = value.split(':');
        if (!token) usage('--account needs a token');
        const account: AccountConfig = { token };
        if (country) account.country = country.toUpperCase() as CountryIso;
        if (currencies) account.currencies = currencies.split(',');
        accounts.push(account);
        break;
      }
      case '--webhook':
      case '--webhook-secret': {
        const [token, setting] = pair(flag, value);
        webhooks.push([token, flag === '--webhook' ? 'url' : 'secret', setting]);
        break;
      }
      case '--clock':
        if (value !== 'wall' && value !== 'manual') usage('--clock is wall or manual');
        options.clock = value;
        break;
      case '--start-at': {
        const date = new Date(value);
        if (Number.isNaN(date.getTime())) usage('--start-at needs an ISO date');
        options.startAt = date;
        break;
      }
      default:
        usage(`unknown argument: ${flag}`);
    }
  }
  if (accounts.length === 0) accounts.push({ token: 'mf_test_kwt', country: 'KWT' });
  for (const [token, key, setting] of webhooks) {
    const account = accounts.find((a) => a.token === token);
    if (!account) usage(`no account has the token ${token}`);
    account.webhook = { ...account.webhook, [key]: setting };
  }
  options.accounts = accounts;
  return options;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const server = await startMyFatoorahServer(options);
  // Signal handlers before the listening line: whoever reads it may stop the server at once.
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`myfatoorah-server: ${signal}, shutting down\n`);
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`myfatoorah-server: shutdown failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.stdout.write(`listening on ${server.url}\n`);
  for (const { token } of options.accounts ?? []) {
    const account = server.accounts.get(token);
    if (!account) continue;
    const { webhook } = account;
    process.stdout.write(`account ${token} ${account.country} ${account.currencies.join(',')} webhook ${webhook.url ?? 'none'} secret ${webhook.secret}\n`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`myfatoorah-server: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
