#!/usr/bin/env bash
# Renders the HTML compliance report in headless Chromium and saves a screenshot, so a
# person (or a reviewer) can see that it looks right. Needs Debian's chromium package:
#   apt-get install -y chromium
#   bash tests/ci/html-screenshot.sh [OUT.png]
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-$repo/target/report.png}"
bin="$repo/target/release/basegate"
[ -x "$bin" ] || (cd "$repo" && cargo build --release --quiet)
chrome=$(command -v chromium || command -v chromium-browser || true)
[ -n "$chrome" ] || { echo "html-screenshot: chromium is not installed (apt-get install chromium)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" scan "$repo/examples/demo" --format html --output "$work/report.html" || true
# The flags keep a root, sandbox-less, offline Chromium quiet and local.
"$chrome" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$work/profile" --hide-scrollbars --window-size=1280,2400 \
  --screenshot="$out" "file://$work/report.html" >/dev/null 2>&1
[ -s "$out" ] || { echo "html-screenshot: no screenshot written"; exit 1; }
echo "html-screenshot: $out"
