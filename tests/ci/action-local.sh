#!/usr/bin/env bash
# Runs the GitHub Action's scan step locally, with the environment GitHub provides
# (GITHUB_WORKSPACE, GITHUB_STEP_SUMMARY, GITHUB_OUTPUT, RUNNER_TEMP), on a copy of the demo
# repository, and checks outputs, summary, SARIF and exit status. Also validates action.yml
# against the action metadata schema (check-jsonschema's bundled copy of SchemaStore's).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${BASEGATE_BIN:-$repo/target/release/basegate}"
[ -x "$bin" ] || (cd "$repo" && cargo build --release --quiet)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "action-local: FAIL: $*"; exit 1; }

# A workspace that is a git repository with findings.
mkdir -p "$work/ws" "$work/tmp"
cp -r "$repo/examples/demo/." "$work/ws/"
git -C "$work/ws" init -q
export GITHUB_WORKSPACE="$work/ws" RUNNER_TEMP="$work/tmp"
export GITHUB_STEP_SUMMARY="$work/summary.md" GITHUB_OUTPUT="$work/output"
export BASEGATE_BIN="$bin" INPUT_PATH=. INPUT_OUTPUT=basegate.sarif
: > "$GITHUB_STEP_SUMMARY"; : > "$GITHUB_OUTPUT"

set +e
bash "$repo/scripts/action-run.sh" > "$work/log" 2>&1
code=$?
set -e
[ "$code" = 1 ] || { cat "$work/log"; fail "expected exit 1 (gate fails), got $code"; }
grep -q '^gate=fail$' "$GITHUB_OUTPUT" || fail "no gate=fail output"
grep -q '^sarif-file=basegate.sarif$' "$GITHUB_OUTPUT" || fail "no sarif-file output"
n=$(sed -n 's/^findings=//p' "$GITHUB_OUTPUT")
[ "${n:-0}" -gt 0 ] || fail "findings output is ${n:-missing}"
grep -q 'Gate failed' "$GITHUB_STEP_SUMMARY" || fail "summary lacks the gate"
grep -q '^::error file=arm/storage.json,line=' "$work/log" || { cat "$work/log"; fail "no annotation on arm/storage.json"; }
[ -s "$work/ws/basegate.sarif" ] || fail "no SARIF written"
if [ -x "$repo/../shared/tools/validate-sarif.sh" ] || [ -f "$repo/../shared/tools/validate-sarif.sh" ]; then
  bash "$repo/../shared/tools/validate-sarif.sh" "$work/ws/basegate.sarif" >/dev/null || fail "SARIF does not validate"
fi

# soft-fail: same findings, exit 0.
: > "$GITHUB_OUTPUT"
INPUT_SOFT_FAIL=true bash "$repo/scripts/action-run.sh" > "$work/log" 2>&1 || fail "soft-fail still failed"
grep -q '^gate=fail$' "$GITHUB_OUTPUT" || fail "soft-fail lost the gate output"

# A clean repository passes.
rm -rf "$work/ws"/* && cp "$repo/fixtures/BG1001/pass.json" "$work/ws/"
: > "$GITHUB_OUTPUT"
INPUT_FAIL_ON=critical bash "$repo/scripts/action-run.sh" > "$work/log" 2>&1 || { cat "$work/log"; fail "clean repository failed"; }
grep -q '^gate=pass$' "$GITHUB_OUTPUT" || fail "no gate=pass output"

# action.yml against the action metadata schema.
if ! command -v check-jsonschema >/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check check-jsonschema >/dev/null 2>&1 || true
fi
if command -v check-jsonschema >/dev/null; then
  check-jsonschema --builtin-schema vendor.github-actions "$repo/action.yml" >/dev/null || fail "action.yml does not match the schema"
  echo "action-local: action.yml validates against the GitHub action schema"
else
  fail "check-jsonschema could not be installed"
fi
echo "action-local: ok (findings=$n)"
