#!/bin/sh
# make check: the realloc_growth workload once, tiny, under hakmem (see smoke.sh).
exec /bin/sh "${srcdir:-.}/bench/smoke.sh" realloc_growth
