#!/bin/sh
# make check: the mid_large_mt workload once, tiny, under hakmem (see smoke.sh).
exec /bin/sh "${srcdir:-.}/bench/smoke.sh" mid_large_mt
