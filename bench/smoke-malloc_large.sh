#!/bin/sh
# make check: the malloc_large workload once, tiny, under hakmem (see smoke.sh).
exec /bin/sh "${srcdir:-.}/bench/smoke.sh" malloc_large
