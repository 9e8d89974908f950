#!/usr/bin/env bash
# kpsuite check, then kpsuite props, against INPUT_URL. Every input arrives in the environment and is passed
# as one argument; INPUT_ARGS is split on whitespace only (no globbing, no expansion, never evaluated).
set -uo pipefail
shared=()
[ -n "${INPUT_MAX_PER_QUERY:-}" ] && shared+=(--max-per-query "$INPUT_MAX_PER_QUERY")
[ -n "${INPUT_QUERIES_PER_WINDOW:-}" ] && shared+=(--queries-per-window "$INPUT_QUERIES_PER_WINDOW")
[ -n "${INPUT_SERVED_PER_WINDOW:-}" ] && shared+=(--served-per-window "$INPUT_SERVED_PER_WINDOW")
[ -n "${INPUT_WINDOW_SECONDS:-}" ] && shared+=(--window-seconds "$INPUT_WINDOW_SECONDS")
[ -n "${INPUT_EXPECT_FAIL:-}" ] && shared+=(--expect-fail "$INPUT_EXPECT_FAIL")
extra=()
[ -n "${INPUT_ARGS:-}" ] && read -r -a extra <<< "$INPUT_ARGS"

strict=()
[ "${INPUT_STRICT:-false}" = true ] && strict=(--strict)  # SHOULDs exist only in check

"$KPSUITE" check --url "$INPUT_URL" --wait "${INPUT_WAIT_TIMEOUT:-0}" --out "$REPORTS/check" "${strict[@]}" "${shared[@]}" "${extra[@]}"
code=$?
if [ "${INPUT_PROPS:-true}" = true ] && [ "$code" -ne 2 ]; then
  "$KPSUITE" props --url "$INPUT_URL" --runs "${INPUT_PROPS_RUNS:-50}" --out "$REPORTS/props" "${shared[@]}" "${extra[@]}"
  props=$?
  [ "$code" -eq 0 ] && code=$props
fi

if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  for md in "$REPORTS"/check/latest/report.md "$REPORTS"/props/*/props.md; do
    [ -f "$md" ] && { cat "$md"; echo; } >> "$GITHUB_STEP_SUMMARY"
  done
fi
echo "exit-code=$code" >> "$GITHUB_OUTPUT"
