import { OPTIONAL_PARTS, partPlan } from './optional-parts';
import { testDatabases, type TestDatabaseKind } from './databases';
import { livePlan } from '../stripe-contract/targets';

/**
 * Jest's global setup: says before the first test which databases and optional parts this run
 * covers, and leaves the same lines for the summary reporter to repeat at the end, so a run on
 * SQLite alone, or without a browser, can never pass for the full matrix.
 */
const ALL_DATABASES: readonly TestDatabaseKind[] = ['sqlite', 'postgres', 'mysql'];

export function testPlanLines(env: NodeJS.ProcessEnv = process.env): string[] {
  const selected = testDatabases(env).map((target) => target.kind);
  const skipped = ALL_DATABASES.filter((kind) => !selected.includes(kind));
  const databases = `databases: ran ${selected.join(', ')}` +
    (skipped.length === 0 ? '' : `; skipped ${skipped.join(', ')} (to include them: METERLINE_TEST_DATABASES=sqlite,postgres,mysql with server URLs, see README "How each database is tested")`);
  const parts = OPTIONAL_PARTS.map((part) => {
    const plan = partPlan(part, env);
    return plan.run ? `${part} tests: ran${plan.required ? ' (required)' : ''}` : `${part} tests: skipped: ${plan.reason}`;
  });
  return [databases, ...parts, stripeTestModeLine(env)];
}

/** The opt-in half of the Stripe contract suite (test/stripe-contract/live.test.ts). */
function stripeTestModeLine(env: NodeJS.ProcessEnv): string {
  try {
    const plan = livePlan(env);
    return plan.run ? 'stripe contract (Stripe test mode): ran' : plan.line;
  } catch (error) {
    return `stripe contract (Stripe test mode): refused: ${(error as Error).message}`;
  }
}

export default function globalSetup(): void {
  const lines = testPlanLines();
  process.stderr.write(lines.map((line) => `${line}\n`).join(''));
  process.env.METERLINE_TEST_PLAN = JSON.stringify(lines);
}
