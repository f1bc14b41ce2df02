#!/bin/sh
# make check: bench/programs.py's proof rules (LD_DEBUG bindings, hakmem's
# statistics), analysis and report writers, on made-up runs (runs nothing;
# see programs.py --self-test). Skips without python3.
py=${PYTHON3:-python3}
command -v "$py" >/dev/null 2>&1 || { echo "no python3: skipped"; exit 77; }
exec "$py" "${abs_top_srcdir:-${srcdir:-.}}/bench/programs.py" --self-test
