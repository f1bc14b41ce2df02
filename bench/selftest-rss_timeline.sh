#!/bin/sh
# make check: bench/rss_timeline.py's parser, run checks and report writers,
# on made-up runs (runs nothing; see rss_timeline.py --self-test). Skips
# without python3.
py=${PYTHON3:-python3}
command -v "$py" >/dev/null 2>&1 || { echo "no python3: skipped"; exit 77; }
exec "$py" "${abs_top_srcdir:-${srcdir:-.}}/bench/rss_timeline.py" --self-test
