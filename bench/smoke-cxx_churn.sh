#!/bin/sh
# make check: the cxx_churn workload once, tiny, under hakmem (see smoke.sh).
exec /bin/sh "${srcdir:-.}/bench/smoke.sh" cxx_churn
