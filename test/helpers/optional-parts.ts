import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';

/**
 * Parts of the suite that need a program Node does not bring: the browser tests need Debian's
 * Chromium (driven by playwright-core), the REST examples of docs/rest.md need curl and jq. For
 * `npm test` they are optional: without the program their suites are skipped and the run says so,
 * with how to enable them (test/helpers/test-plan.ts). CI sets METERLINE_REQUIRE_OPTIONAL=1: then
 * every part runs, and a missing program fails its tests instead of skipping them.
 */
export type OptionalPartName = 'browser' | 'rest-examples';

export type PartPlan = { run: true; required: boolean } | { run: false; reason: string };

export function chromiumPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.METERLINE_CHROMIUM ?? '/usr/bin/chromium';
}

const MISSING: Record<OptionalPartName, (env: NodeJS.ProcessEnv) => string | undefined> = {
  browser: (env) =>
    existsSync(chromiumPath(env))
      ? undefined
      : `Chromium not found at ${chromiumPath(env)}; install it (apt-get install chromium) or set METERLINE_CHROMIUM=<path>`,
  'rest-examples': (env) => {
    const missing = ['bash', 'curl', 'jq'].filter((program) => !onPath(program, env));
    return missing.length === 0 ? undefined : `${missing.join(' and ')} not on PATH; install ${missing.join(' and ')} (apt-get install ${missing.join(' ')})`;
  },
};

export const OPTIONAL_PARTS = Object.keys(MISSING) as OptionalPartName[];

export function partPlan(part: OptionalPartName, env: NodeJS.ProcessEnv = process.env): PartPlan {
  const required = env.METERLINE_REQUIRE_OPTIONAL === '1';
  const missing = MISSING[part](env);
  if (required || missing === undefined) return { run: true, required };
  return { run: false, reason: missing };
}

/** `describe` for a suite that needs an optional part: skipped, not failed, when it is missing. */
export function describeWith(part: OptionalPartName, name: string, define: () => void): void {
  (partPlan(part).run ? describe : describe.skip)(name, define);
}

/** Headless Chromium with the flags a closed network and a root user need. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync',
    ],
  });
}

function onPath(program: string, env: NodeJS.ProcessEnv): boolean {
  return (env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, program), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}
