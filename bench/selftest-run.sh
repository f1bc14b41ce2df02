#!/bin/sh
# make check: bench/run.py's parsing, refusal rules and report writers, on
# made-up runs (runs no workload; see run.py --self-test). Skips without python3.
py=${PYTHON3:-python3}
command -v "$py" >/dev/null 2>&1 || { echo "no python3: skipped"; exit 77; }
exec "$py" "${abs_top_srcdir:-${srcdir:-.}}/bench/run.py" --self-test
