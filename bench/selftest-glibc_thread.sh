#!/bin/sh
# make check: bench/glibc_thread.py's parsing, refusal rules and report
# writer on made-up runs (runs nothing; see glibc_thread.py --self-test).
# Skips without python3.
py=${PYTHON3:-python3}
command -v "$py" >/dev/null 2>&1 || { echo "no python3: skipped"; exit 77; }
exec "$py" "${abs_top_srcdir:-${srcdir:-.}}/bench/glibc_thread.py" --self-test
