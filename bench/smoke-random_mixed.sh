#!/bin/sh
# make check: the random_mixed workload once, tiny, under hakmem (see smoke.sh).
exec /bin/sh "${srcdir:-.}/bench/smoke.sh" random_mixed
