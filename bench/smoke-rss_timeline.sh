#!/bin/sh
# make check: the rss_timeline workload once, tiny, under hakmem (see smoke.sh).
exec /bin/sh "${srcdir:-.}/bench/smoke.sh" rss_timeline
