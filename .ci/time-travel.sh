#!/usr/bin/env bash
# Runs the time-sensitive suites again with the process clock moved to awkward dates by Debian's
# libfaketime (package `faketime`): a leap day just before midnight, New Year's Eve in another time
# zone, and the minutes before a daylight-saving change. Tests set the clocks that decide their
# outcome (test/helpers/test-clock.ts); this proves that the machine's date does not matter.
# The browser suites are left out (Chromium under libfaketime is not what is tested here; they run
# in the main pass). Needs the product build (`npm run build`, as .ci/run does first): the CLI
# suites spawn dist/src/; the dev build (the Stripe server and the demo, spawned from dist/dev/) is
# done here.
# The first date runs every listed suite on the database matrix in reverse order (order must not
# matter either); the others run the calendar suites on SQLite, to keep CI short. Server URLs as
# for npm test (METERLINE_TEST_*_URL).
#   bash .ci/time-travel.sh
set -euo pipefail
cd "$(dirname "$0")/.."

full_matrix=sqlite
[ -n "${METERLINE_TEST_POSTGRES_URL:-}" ] && [ -n "${METERLINE_TEST_MYSQL_URL:-}" ] && full_matrix=mysql,postgres,sqlite
# date | time zone | databases | suites (all: every suite below; calendar: those that turn dates
# into periods, invoices and pages, where a zone or a DST change could matter)
dates=(
  "2028-02-29 23:50:00|UTC|$full_matrix|all"
  "2026-12-31 23:50:00|Pacific/Kiritimati|sqlite|calendar"
  "2027-03-28 01:50:00|Europe/Berlin|sqlite|calendar"
)
# What reads a clock: billing, usage, the engine, the REST routes that bill or check tokens, the
# Stripe server. Left out, to keep CI short: the request-shape suites (conformance, OpenAPI, fuzz,
# bad input, the shared auth suite), which never look at the date; they run in the main pass.
suites=(
  test/e2e/paid-plan-story.test.ts test/e2e/monetization-story.test.ts test/e2e/demo.test.ts test/docs
  test/usage test/billing test/gateway-kit test/plugins dev/stripe-server
  test/http/billing test/http/devportal test/http/publisher test/http/admin test/http/pages
  test/http/token-cli.test.ts test/http/token-claims.test.ts test/http/proxy-and-cookies.test.ts
)
# The demo, the REST examples, token and proxy handling, and the portal routes that only store
# subscriptions run at the first date only: they compare instants, never calendar fields.
calendar_suites=(
  test/e2e/paid-plan-story.test.ts test/usage test/billing test/plugins dev/stripe-server
  test/http/billing test/http/pages
)

npm run --silent build:dev

for entry in "${dates[@]}"; do
  IFS='|' read -r at zone databases which <<<"$entry"
  selected=("${suites[@]}")
  [ "$which" = calendar ] && selected=("${calendar_suites[@]}")
  echo "== time travel: the clock reads $at ($zone) when the suites start; databases $databases; $which suites (at ${SECONDS}s)"
  # Monotonic clocks stay real: timers and timeouts keep their length; only the date moves.
  METERLINE_TEST_DATABASES=$databases FAKETIME_DONT_FAKE_MONOTONIC=1 TZ="$zone" faketime "$at" npx jest "${selected[@]}"
done
