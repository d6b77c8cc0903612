#!/usr/bin/env bash
# The scan step of the GitHub Action (action.yml), as a script so it runs and is tested
# outside GitHub too (tests/action/run-local.sh). Reads the action's inputs from INPUT_*
# environment variables, writes SARIF, the Markdown summary and the step outputs, and exits
# with the gate's verdict (0 pass, 1 fail) unless soft-fail is on.
set -uo pipefail

bin="${BASEGATE_BIN:-basegate}"
workspace="${GITHUB_WORKSPACE:-$PWD}"
cd "$workspace"

path="${INPUT_PATH:-.}"
output="${INPUT_OUTPUT:-basegate.sarif}"
args=(scan "$path")
[ -n "${INPUT_CONFIG:-}" ] && args+=(--config "$INPUT_CONFIG")
[ -n "${INPUT_FAIL_ON:-}" ] && args+=(--fail-on "$INPUT_FAIL_ON")
[ -n "${INPUT_BASELINE:-}" ] && args+=(--baseline "$INPUT_BASELINE")
if [ -n "${INPUT_CHANGED_SINCE:-}" ]; then
  # The base of a pull request may not be fetched in a shallow checkout.
  if git rev-parse --verify --quiet "${INPUT_CHANGED_SINCE}^{commit}" >/dev/null; then
    args+=(--changed-since "$INPUT_CHANGED_SINCE")
  else
    echo "::warning title=basegate::changed-since ${INPUT_CHANGED_SINCE} is not in this checkout (use fetch-depth: 0); scanning everything"
  fi
fi
for f in ${INPUT_FRAMEWORKS:-}; do args+=(--framework "$f"); done

# SARIF (for code scanning), JSON (for the outputs), Markdown (for the job summary).
"$bin" "${args[@]}" --format sarif --output "$output"
"$bin" "${args[@]}" --format json --output "${RUNNER_TEMP:-/tmp}/basegate.json"
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  "$bin" "${args[@]}" --format markdown >> "$GITHUB_STEP_SUMMARY"
fi
# Annotations on the changed lines, even without code scanning.
"$bin" "${args[@]}" --format github --quiet
gate_code=$?

findings=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"]["findings"])' "${RUNNER_TEMP:-/tmp}/basegate.json" 2>/dev/null || echo 0)
case $gate_code in
  0) gate=pass ;;
  1) gate=fail ;;
  *) gate=error ;;
esac
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  {
    echo "findings=$findings"
    echo "sarif-file=$output"
    echo "gate=$gate"
  } >> "$GITHUB_OUTPUT"
fi
echo "basegate: $findings finding(s), gate $gate"

if [ "$gate" = error ]; then exit 2; fi
if [ "$gate" = fail ] && [ "${INPUT_SOFT_FAIL:-false}" != true ]; then exit 1; fi
exit 0
