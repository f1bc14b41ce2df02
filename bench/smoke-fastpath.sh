#!/bin/sh
# make check: the fastpath workload once, tiny, under hakmem (see smoke.sh).
exec /bin/sh "${srcdir:-.}/bench/smoke.sh" fastpath
