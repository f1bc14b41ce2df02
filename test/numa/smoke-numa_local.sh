#!/bin/sh
# test/numa/smoke-numa_local.sh: make check - bench/numa_local once, tiny,
# under hakmem (LD_PRELOAD of .libs/libhakmem.so), on this machine. Checks
# the exit status, the RESULT line, that hakmem served the allocations, that
# every counted page was present, and, on a one-node machine, that all pages
# are local. The VM run with every allocator is `make bench-numa`.
set -u
top=${abs_top_builddir:-$(pwd)}
prog=$top/bench/numa_local
lib=$top/.libs/libhakmem.so
if [ ! -x "$prog" ] || [ ! -f "$lib" ]; then
    echo "smoke-numa_local: $prog or $lib not built" >&2
    exit 1
fi
out=$(LD_PRELOAD="$lib" "$prog" 2 3 256 1 42)
rc=$?
echo "$out"
[ "$rc" = 0 ] || { echo "smoke-numa_local: exit status $rc" >&2; exit 1; }
line=$(printf '%s\n' "$out" | grep '^RESULT ' | tail -n 1)
value() { printf '%s\n' "$line" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n 1; }
fail=0
bad() { echo "smoke-numa_local: $*" >&2; fail=1; }
[ -n "$line" ] || { bad "no RESULT line"; exit 1; }
for key in bench threads gens pages local_pages local_pct absent ops secs allocs \
    hakmem_nmalloc allocator_lib; do
    [ -n "$(value "$key")" ] || bad "no $key in: $line"
done
[ "$(value allocator_lib)" = libhakmem.so ] || bad "malloc came from $(value allocator_lib)"
nm=$(value hakmem_nmalloc)
al=$(value allocs)
case $nm in ''|*[!0-9]*) bad "hakmem_nmalloc is '$nm'" ;;
    *) [ "$nm" -ge "${al:-0}" ] || bad "hakmem_nmalloc $nm < allocs $al" ;; esac
[ "$(value absent)" = 0 ] || bad "$(value absent) pages absent"
[ "$(value pages)" -gt 0 ] 2>/dev/null || bad "no pages counted"
nodes=$(find /sys/devices/system/node -maxdepth 1 -name "node[0-9]*" 2>/dev/null | wc -l)
if [ "$nodes" -le 1 ] && [ "$(value local_pct)" != 100.00 ]; then
    bad "one node, yet local_pct=$(value local_pct)"
fi
exit "$fail"
