#!/usr/bin/env bash
# Benchmark basegate on the shared corpus; see bench/run.py and bench/README.md.
exec python3 "$(dirname "$0")/run.py" "$@"
