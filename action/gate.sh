#!/usr/bin/env bash
# Fails the job when a suite failed, and names the failing requirements in this step's log.
set -uo pipefail
code=${EXIT_CODE:-}
if [ -z "$code" ]; then
  echo "::error title=kpsuite::the kpsuite step ended without an exit code (see its log)"
  exit 1
fi
if [ "$code" -ne 0 ]; then
  node "$GITHUB_ACTION_PATH/action/failures.mjs" "$REPORTS" || true
fi
exit "$code"
