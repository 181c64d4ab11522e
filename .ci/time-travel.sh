#!/usr/bin/env bash
# Runs the time-sensitive suites again with the process clock moved to awkward dates by Debian's
# libfaketime (package `faketime`): a leap day just before midnight, New Year's Eve in another time
# zone, and the minutes before a daylight-saving change. Tests set the clocks that decide their
# outcome (test/helpers/test-clock.ts); this proves that the machine's date does not matter.
# The browser suites are left out (Chromium under libfaketime is not what is tested here; they run
# in the main pass). Needs the product build (`npm run build`, as .ci/run does first): the CLI
# suites spawn dist/src/; the dev build (the Stripe server and the demo, spawned from dist/dev/) is
# done here. Server URLs as for npm test (METERLINE_TEST_*_URL).
#   bash .ci/time-travel.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# Each awkward date runs the calendar suites on one database, and each database gets one date
# (pairs, not every date on every database: that cross product cost CI about two minutes more). The
# zone-aware drivers get the zones: MariaDB's and PostgreSQL's clients turn a Date into the
# process's local time, so they run at New Year in UTC+14 and across Berlin's DST change, while
# the servers keep the real date. Without the server URLs (a developer's machine) SQLite stands in.
postgres=sqlite mysql=sqlite
[ -n "${METERLINE_TEST_POSTGRES_URL:-}" ] && postgres=postgres
[ -n "${METERLINE_TEST_MYSQL_URL:-}" ] && mysql=mysql

# The calendar suites turn dates into billing periods, windows, invoices and pages: a zone, a leap
# day or a DST change could matter to them, and so could the database (the database servers keep
# the real date while the process clock moves). They run at every date, each on its database.
calendar_suites=(
  test/e2e/paid-plan-story.test.ts test/usage test/billing test/plugins dev/stripe-server
  test/http/billing test/http/pages test/http/devportal/unsubscribe.test.ts
  test/rating test/invoicing
)
# The other suites that read a clock compare instants (token expiry, caches, lease ages, the
# demo's and the REST examples' story): they run at the first date, on SQLite. Left out entirely:
# the request-shape suites (conformance, OpenAPI, fuzz, bad input, the shared auth suite), which
# never look at the date; they run in the main pass.
instant_suites=(
  test/e2e/monetization-story.test.ts test/e2e/demo.test.ts test/docs test/gateway-kit
  test/http/devportal test/http/publisher test/http/admin
  test/http/token-cli.test.ts test/http/token-claims.test.ts test/http/proxy-and-cookies.test.ts
)
# Replaces jest.config.js's ignore list (node_modules, dist), adding the one calendar suite above.
instant_ignore='--testPathIgnorePatterns=/node_modules/|/dist/|test/http/devportal/unsubscribe\.test\.ts'
# Left out of the calendar runs: suites under those folders that never turn a date into a period,
# and cost CI minutes at every date: the SIGKILL crash loop (exactly once under kills, on the real
# clock), the record insert's storage check, and the HTTP integration's protocol-schema and
# options checks. They run in the main pass.
calendar_ignore='--testPathIgnorePatterns=/node_modules/|/dist/|test/usage/crash-recovery\.test\.ts|test/usage/record-insert\.test\.ts|test/plugins/http-integration/(protocol|options)\.test\.ts'

npm run --silent build:dev

travel() {
  local at=$1 zone=$2 databases=$3
  shift 3
  # Monotonic clocks stay real: timers and timeouts keep their length; only the date moves.
  # One jest worker each: two of these processes run side by side, one per core (two workers each
  # made the time travel a third slower on two cores).
  METERLINE_TEST_DATABASES=$databases FAKETIME_DONT_FAKE_MONOTONIC=1 TZ="$zone" faketime "$at" npx jest --maxWorkers=1 "$@"
}

# Two jest processes side by side (two cores), each to its own log, printed when both are done.
echo "== time travel, two processes side by side (at ${SECONDS}s):"
echo "   A: 2028-02-29 23:50 UTC, calendar suites, SQLite; 2027-03-28 01:50 in Europe/Berlin (DST), calendar suites, $postgres"
echo "   B: 2028-02-29 23:50 UTC, the other clock-reading suites, SQLite; 2026-12-31 23:50 in Pacific/Kiritimati (UTC+14), calendar suites, $mysql"
logs=$(mktemp -d)
(
  set -e
  echo "== A1: leap day, calendar suites, SQLite"
  travel "2028-02-29 23:50:00" UTC sqlite "${calendar_suites[@]}" "$calendar_ignore"
  echo "== A2: before the DST change in Berlin, calendar suites, $postgres"
  travel "2027-03-28 01:50:00" Europe/Berlin "$postgres" "${calendar_suites[@]}" "$calendar_ignore"
) >"$logs/A.log" 2>&1 &
a=$!
(
  set -e
  echo "== B1: leap day, the other clock-reading suites, SQLite"
  travel "2028-02-29 23:50:00" UTC sqlite "${instant_suites[@]}" "$instant_ignore"
  echo "== B2: New Year in UTC+14, calendar suites, $mysql"
  travel "2026-12-31 23:50:00" Pacific/Kiritimati "$mysql" "${calendar_suites[@]}" "$calendar_ignore"
) >"$logs/B.log" 2>&1 &
b=$!
failed=()
wait "$a" || failed+=(A)
wait "$b" || failed+=(B)
for log in A B; do
  echo "== time travel log $log"
  cat "$logs/$log.log"
done
rm -rf "$logs"
[ ${#failed[@]} -eq 0 ] || { echo "== time travel failed: ${failed[*]} (see the logs above)"; exit 1; }
echo "== time travel done (at ${SECONDS}s)"
