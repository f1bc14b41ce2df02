#!/bin/sh
# make check: the live_growth workload once, tiny, under hakmem (see smoke.sh).
exec /bin/sh "${srcdir:-.}/bench/smoke.sh" live_growth
