#!/usr/bin/env bash
# Runs the time-sensitive suites again with the process clock moved to awkward dates by Debian's
# libfaketime (package `faketime`): a leap day just before midnight, New Year's Eve in another time
# zone, and the minutes before a daylight-saving change. Tests set the clocks that decide their
# outcome (test/helpers/test-clock.ts); this proves that the machine's date does not matter.
# The browser suites and the demo are left out: Chromium under libfaketime is not what is tested
# here, and both run in the main pass. Needs the build (the CLI suites spawn dist/).
#   bash .ci/time-travel.sh            # the same database matrix as the environment selects
set -euo pipefail
cd "$(dirname "$0")/.."

dates=(
  "2028-02-29 23:50:00|UTC"
  "2026-12-31 23:50:00|Pacific/Kiritimati"
  "2027-03-28 01:50:00|Europe/Berlin"
)
suites=(
  test/e2e/paid-plan-story.test.ts test/e2e/monetization-story.test.ts
  test/usage test/billing test/http test/plugins test/stripe-server
)

for entry in "${dates[@]}"; do
  IFS='|' read -r at zone <<<"$entry"
  echo "== time travel: the clock reads $at ($zone) when the suites start"
  # Monotonic clocks stay real: timers and timeouts keep their length; only the date moves.
  FAKETIME_DONT_FAKE_MONOTONIC=1 TZ="$zone" faketime "$at" npx jest "${suites[@]}"
done
