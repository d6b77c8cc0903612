#!/bin/bash
# Runs fuzz targets one after another for SECONDS each (default 1860, 31 minutes), from the
# binaries `cargo fuzz build` left in $CARGO_TARGET_DIR, and appends a summary (start, end,
# exit code, executions) to fuzz/runs.log. Usage, from the repository root:
#   RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=/work/target-fuzz cargo fuzz build
#   CARGO_TARGET_DIR=/work/target-fuzz fuzz/run-all.sh scan_pipeline bicep terraform arm_json arm_expr
# Exit code 0: nothing found; 70: a timeout; 77: a leak; other: a crash (see artifacts/).
set -u
cd "$(dirname "$0")"
bin="${CARGO_TARGET_DIR:-../target}/x86_64-unknown-linux-gnu/release"
secs="${SECONDS_PER_TARGET:-1860}"
export RAYON_NUM_THREADS=1
for t in "$@"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  echo "== $t start $(date -u +%FT%TZ)" >> runs.log
  extra=()
  # An abandoned HCL parser thread (a file past its deadline) is reported as a leak.
  leaks=1
  [ "$t" = terraform ] && extra+=(-detect_leaks=0) && leaks=0
  ASAN_OPTIONS="detect_leaks=$leaks" nice -n 10 "$bin/$t" "corpus/$t" "seeds/$t" -dict="dicts/$t.dict" -max_total_time="$secs" \
    -timeout=10 -rss_limit_mb=4096 -max_len=8192 -print_final_stats=1 "${extra[@]}" \
    -artifact_prefix="artifacts/$t/" > "$t.log" 2>&1
  echo "== $t rc=$? end $(date -u +%FT%TZ)" >> runs.log
  grep -E '^stat::(number_of_executed_units|average_exec_per_sec)' "$t.log" >> runs.log
done
