#!/bin/sh
# make check: the prodcons workload once, tiny, under hakmem (see smoke.sh).
exec /bin/sh "${srcdir:-.}/bench/smoke.sh" prodcons
