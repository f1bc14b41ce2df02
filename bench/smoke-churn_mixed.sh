#!/bin/sh
# make check: the churn_mixed workload once, tiny, under hakmem (see smoke.sh).
exec /bin/sh "${srcdir:-.}/bench/smoke.sh" churn_mixed
