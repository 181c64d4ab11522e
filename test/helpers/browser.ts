import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/**
 * The browser tests drive Debian's Chromium (`apt-get install chromium`) with playwright-core.
 * Chromium is optional for `npm test`: without it those tests are skipped and the run says so
 * (test/helpers/test-plan.ts). CI sets METERLINE_REQUIRE_BROWSER=1, which makes them mandatory:
 * a missing browser then fails them instead of skipping them.
 */
export const CHROMIUM_PATH = process.env.METERLINE_CHROMIUM ?? '/usr/bin/chromium';

export type BrowserPlan = { run: true; required: boolean } | { run: false; reason: string };

export function browserPlan(env: NodeJS.ProcessEnv = process.env): BrowserPlan {
  const path = env.METERLINE_CHROMIUM ?? '/usr/bin/chromium';
  const required = env.METERLINE_REQUIRE_BROWSER === '1';
  if (required || existsSync(path)) return { run: true, required };
  return {
    run: false,
    reason: `Chromium not found at ${path}; install it (apt-get install chromium) or set METERLINE_CHROMIUM=<path> to run them`,
  };
}

/** `describe` for a browser suite: skipped, not failed, when the browser is optional and missing. */
export function describeInBrowser(name: string, define: () => void): void {
  (browserPlan().run ? describe : describe.skip)(name, define);
}

/** Headless Chromium with the flags a closed network and a root user need. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync',
    ],
  });
}
