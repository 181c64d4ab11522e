#!/usr/bin/env node
/**
 * `npm run demo`: the whole monetization story on this machine, with nothing but Node.js.
 *
 *   node dist/dev/demo/cli.js           run the story, then keep everything up until Ctrl-C
 *   node dist/dev/demo/cli.js --exit    run the story, clean up and exit (0 only if every step succeeded)
 *   --calls <n>                         how many gateway calls to send (default 3000, at most 20000)
 *   --engine stripe|myfatoorah          the billing engine (default stripe). myfatoorah: Meterline rates
 *                                       the usage and issues the invoices in KWD with a tiered plan, the
 *                                       local MyFatoorah server makes their pay links and is paid
 *
 * Whatever happens (a failed step, Ctrl-C, the end of --exit) the gateway, Meterline and the
 * local Stripe (or MyFatoorah) server are stopped and the demo's temporary directory is removed.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BANNER, DemoOutput, DemoStepError, MYFATOORAH_BANNER } from './output';
import { Cleanup } from './processes';
import { runStory, STORY_STEPS, type DemoSummary } from './story';
import { MYFATOORAH_STORY_STEPS, runMyFatoorahStory, type MyFatoorahDemoSummary } from './story-myfatoorah';

const USAGE = 'usage: npm run demo [-- --exit] [-- --calls <n>] [-- --engine stripe|myfatoorah]\n';
const ENGINES = ['stripe', 'myfatoorah'] as const;

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({ args: process.argv.slice(2), options: { exit: { type: 'boolean', default: false }, calls: { type: 'string', default: '3000' }, engine: { type: 'string', default: 'stripe' }, help: { type: 'boolean', short: 'h', default: false } } });
  } catch (error) {
    process.stderr.write(`demo: ${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
    return 2;
  }
  if (args.values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const calls = Number(args.values.calls);
  if (!/^\d+$/.test(args.values.calls ?? '') || calls < 1 || calls > 20_000) {
    process.stderr.write(`demo: --calls must be a whole number from 1 to 20000\n${USAGE}`);
    return 2;
  }
  const engine = args.values.engine as (typeof ENGINES)[number];
  if (!ENGINES.includes(engine)) {
    process.stderr.write(`demo: --engine must be ${ENGINES.join(' or ')}\n${USAGE}`);
    return 2;
  }
  const myFatoorah = engine === 'myfatoorah';

  const out = new DemoOutput(myFatoorah ? MYFATOORAH_STORY_STEPS : STORY_STEPS);
  const cleanup = new Cleanup();
  let stopping: ((signal: NodeJS.Signals) => void) | undefined;
  const stopped = new Promise<NodeJS.Signals>((resolve) => (stopping = resolve));
  let storyDone = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (!storyDone) out.line(`\n${signal}: stopping the demo before it finished; cleaning up`);
    stopping!(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  for (const text of myFatoorah ? MYFATOORAH_BANNER : BANNER) out.line(text);
  out.line();
  const story: Promise<DemoSummary | MyFatoorahDemoSummary> = myFatoorah
    ? runMyFatoorahStory(out, cleanup, { calls, myFatoorahServerScript: join(__dirname, '..', 'myfatoorah-server', 'cli.js') })
    : runStory(out, cleanup, { calls, stripeServerScript: join(__dirname, '..', 'stripe-server', 'cli.js') });
  const outcome = await Promise.race([story.then((summary) => ({ summary }), (error: unknown) => ({ error })), stopped.then((signal) => ({ signal }))]);

  if ('signal' in outcome) {
    await finish(out, cleanup);
    return 130;
  }
  if ('error' in outcome) {
    const { error } = outcome;
    out.line();
    if (error instanceof DemoStepError) {
      out.line(`DEMO FAILED at step "${error.step}" (${error.title}):`);
      out.line(`  ${error.cause instanceof Error ? error.cause.message : String(error.cause)}`);
      if (process.env.METERLINE_DEBUG && error.cause instanceof Error && error.cause.stack) out.line(error.cause.stack);
    } else {
      out.line(`DEMO FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    }
    await finish(out, cleanup);
    return 1;
  }

  storyDone = true;
  const { summary } = outcome;
  if ('engine' in summary) printMyFatoorahSummary(out, summary, args.values.exit ?? false);
  else printSummary(out, summary, args.values.exit ?? false);
  if (!args.values.exit) {
    await stopped;
    out.line(`Stopping the demo gateway, Meterline and the local ${myFatoorah ? 'MyFatoorah' : 'Stripe'} server...`);
  }
  const clean = await finish(out, cleanup);
  return clean ? 0 : 1;
}

async function finish(out: DemoOutput, cleanup: Cleanup): Promise<boolean> {
  const problems = await cleanup.run();
  for (const problem of problems) out.line(`cleanup problem: ${problem}`);
  out.line(problems.length === 0 ? 'demo stopped; everything it started is gone' : 'demo stopped with cleanup problems (above)');
  return problems.length === 0;
}

function printSummary(out: DemoOutput, s: DemoSummary, exitAfter: boolean): void {
  const first = s.paidInvoices.find((i) => i.billingReason === 'subscription_create');
  const cycle = s.paidInvoices.find((i) => i.billingReason === 'subscription_cycle');
  out.line();
  out.line('================================================================================');
  out.line(' What happened');
  out.line('================================================================================');
  out.line(` ${s.calls.sent} calls went through the gateway; ${s.calls.succeeded} succeeded and were billed per request,`);
  out.line(` ${s.calls.failed} failed (${Object.entries(s.calls.byStatus).filter(([k]) => !k.startsWith('2')).map(([k, n]) => `${n} × ${k}`).join(', ')}) and were recorded but not billed.`);
  out.line(` The usage publisher sent ${s.eventsPublished} billable calls to the billing engine as meter events.`);
  if (first && cycle) out.line(` Invoices paid: ${first.total} ${s.currency} (base fee, in advance) and ${cycle.total} ${s.currency} (the month: calls + next base fee).`);
  out.line(` Now pending for the new period: ${s.pendingInvoice.total} ${s.currency} (${s.pendingInvoice.periodStart} -> ${s.pendingInvoice.periodEnd}).`);
  out.line();
  out.line(` Publisher's revenue for the Hello API: ${s.revenue} ${s.currency}`);
  out.line();
  out.line(` Subscriber's invoice page: ${s.invoicePageUrl}`);
  out.line(' Sign in there by pasting this subscriber token (a local token signed with this demo\'s');
  out.line(' generated key, valid 24 h, worthless anywhere else):');
  out.line(`   ${s.subscriberToken}`);
  out.line();
  out.line(` Meterline REST API: ${s.meterlineUrl}/api/am/...   (config: ${s.configPath})`);
  out.line(` Demo gateway:       ${s.gatewayUrl}/hello/v1/greeting (header apikey: ${s.apiKey})`);
  out.line(` Local Stripe server: ${s.stripeServerUrl} (pid ${s.stripeServerPid})`);
  out.line(' Try the REST API as the admin, the publisher and the subscriber (local tokens, valid 24 h):');
  out.line(`   ADMIN_TOKEN=${s.adminToken}`);
  out.line(`   PUBLISHER_TOKEN=${s.publisherToken}`);
  out.line(`   SUBSCRIBER_TOKEN=${s.subscriberToken}`);
  out.line(`   curl -H "Authorization: Bearer $PUBLISHER_TOKEN" ${s.meterlineUrl}/api/am/publisher/v4/apis/${s.apiId}/revenue`);
  out.line(`   curl -H "Authorization: Bearer $SUBSCRIBER_TOKEN" ${s.meterlineUrl}/api/am/devportal/v3/subscriptions/${s.subscriptionId}/usage`);
  out.line(`   curl -H "apikey: ${s.apiKey}" ${s.gatewayUrl}/hello/v1/greeting   # a billed call; publish-usage sends it`);
  out.line(`   curl -H "Authorization: Bearer $ADMIN_TOKEN" ${s.meterlineUrl}/api/am/admin/v4/notifications/deliveries   # what the Teams channel was sent`);
  out.line();
  out.line(' NOTE: the billing engine is a local Stripe-compatible test server; no money moves.');
  out.line(' To run Meterline for real (Stripe test-mode keys, a database server): README, "Running for real".');
  out.line('================================================================================');
  out.line(`demo-summary: ${JSON.stringify(s)}`);
  out.line(exitAfter ? '--exit: cleaning up now.' : 'Everything stays up until you press Ctrl-C.');
}

function printMyFatoorahSummary(out: DemoOutput, s: MyFatoorahDemoSummary, exitAfter: boolean): void {
  out.line();
  out.line('================================================================================');
  out.line(' What happened');
  out.line('================================================================================');
  out.line(` ${s.calls.sent} calls went through the gateway; ${s.calls.succeeded} succeeded, ${s.calls.failed} failed (recorded, not billed).`);
  out.line(' Meterline rated the usage and issued the invoices; MyFatoorah made their pay links and was paid:');
  for (const invoice of s.invoices) {
    out.line(`   ${invoice.invoiceId} ${invoice.kind.padEnd(18)} ${invoice.total.padStart(9)} ${s.currency} ${invoice.status}  (${invoice.periodStart.slice(0, 10)} – ${invoice.periodEnd.slice(0, 10)})`);
    out.line(`     pay link ${invoice.payLink}`);
  }
  out.line(' Each total equals rate() of the plan (and, for the period, of the successful calls).');
  out.line();
  out.line(` Publisher's revenue for the Hello API: ${s.revenue} ${s.currency}`);
  out.line();
  out.line(` Subscriber's invoice page: ${s.invoicePageUrl}`);
  out.line(' Sign in there by pasting this subscriber token (a local token signed with this demo\'s');
  out.line(' generated key, valid 24 h, worthless anywhere else):');
  out.line(`   ${s.subscriberToken}`);
  out.line();
  out.line(` Meterline REST API: ${s.meterlineUrl}/api/am/...   (config: ${s.configPath})`);
  out.line(` Demo gateway:       ${s.gatewayUrl}/hello/v1/greeting (header apikey: ${s.apiKey})`);
  out.line(` Local MyFatoorah server: ${s.myFatoorahServerUrl} (pid ${s.myFatoorahServerPid}); its controls under /_test/ (docs/myfatoorah-server.md)`);
  out.line(' Try the REST API as the admin, the publisher and the subscriber (local tokens, valid 24 h):');
  out.line(`   ADMIN_TOKEN=${s.adminToken}`);
  out.line(`   PUBLISHER_TOKEN=${s.publisherToken}`);
  out.line(`   SUBSCRIBER_TOKEN=${s.subscriberToken}`);
  out.line(`   curl -H "Authorization: Bearer $PUBLISHER_TOKEN" ${s.meterlineUrl}/api/am/publisher/v4/apis/${s.apiId}/revenue`);
  out.line(`   curl -H "Authorization: Bearer $SUBSCRIBER_TOKEN" ${s.meterlineUrl}/api/am/devportal/v3/subscriptions/${s.subscriptionId}/invoices`);
  out.line();
  out.line(' NOTE: the payment system is a local MyFatoorah-compatible test server; no money moves.');
  out.line(' To bill through MyFatoorah for real (region, API token, webhook V2): docs/myfatoorah.md.');
  out.line('================================================================================');
  out.line(`demo-summary: ${JSON.stringify(s)}`);
  out.line(exitAfter ? '--exit: cleaning up now.' : 'Everything stays up until you press Ctrl-C.');
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`demo: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
