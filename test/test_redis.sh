#!/bin/sh
# test_redis.sh - Debian's redis-server under hakmem (LD_PRELOAD). The
# binary links libjemalloc and calls jemalloc's API (mallctl for INFO memory,
# MEMORY PURGE and FLUSHALL, malloc_stats_print for MEMORY MALLOC-STATS,
# nallocx, malloc_usable_size): preloaded, hakmem's definitions win over
# libjemalloc's. On 127.0.0.1, a free port, a scratch directory, no
# persistence; every server is killed at the end.
#
#   1. DEBUG POPULATE $N keys; INFO memory: allocator_allocated within 10 % of
#      used_memory (redis counts malloc_usable_size, hakmem stats.allocated),
#      allocator_active and allocator_resident consistent with it, and
#      MEMORY MALLOC-STATS is hakmem's text: hakmem answers
#   2. MEMORY DOCTOR names no allocator problem and no process RSS overhead
#   3. DEBUG DIGEST unchanged by DEBUG RELOAD (the whole data set saved and
#      loaded again through hakmem), and equal to the digest of the same keys
#      in a redis-server on its own jemalloc
#   4. FLUSHALL ASYNC, then MEMORY PURGE lowers VmRSS (decay_ms=-1: hakmem
#      gives nothing back on its own, so the purge is what does)
#   5. at exit hakmem's statistics count more than $N allocations
#   6. memory comes back by itself (decay_ms at its default, no MEMORY
#      PURGE): 16,000 values of 8 KiB, every other key deleted, then idle:
#      VmRSS falls by a third of what the values took (the free pages inside
#      partly used slabs); after FLUSHALL ASYNC (the lazy-free thread frees)
#      and idle, to within 16 MiB of the empty server's
#
# $N is 2,000,000 (about 170 MB): redis's doctor compares the process's RSS
# with the allocator's resident bytes, 10 MB and 10 % at most apart, and the
# ~11 MB of shared libraries and libjemalloc's own start-up (hakmem's resident
# bytes count only its block mappings, where jemalloc's count its metadata
# and dirty pages too) need a data set that size to be within 10 %.
# Skipped (77) without redis-server and redis-cli (Debian packages
# redis-server, redis-tools).
. "${abs_top_srcdir:-$(cd "${srcdir:-.}" && pwd)}/test/preload_common.sh"

command -v redis-server >/dev/null 2>&1 || skip "no redis-server (Debian package redis-server)"
command -v redis-cli >/dev/null 2>&1 || skip "no redis-cli (Debian package redis-tools)"
N=${REDIS_KEYS:-2000000}
PIDS=
cleanup() {
	for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$TMPD"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

free_port() {
	"$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start NAME [VAR=VALUE...]: a redis-server in $TMPD/NAME with the given
# environment; sets PORT and SPID (the server's process id).
start() {
	_name=$1; shift
	mkdir -p "$TMPD/$_name"
	for _try in 1 2 3; do
		PORT=$(free_port) || fail "no free port"
		timeout 600 env "$@" redis-server --port "$PORT" --bind 127.0.0.1 --protected-mode yes \
			--save '' --appendonly no --dir "$TMPD/$_name" --daemonize no \
			--logfile "$TMPD/$_name/redis.log" --enable-debug-command yes &
		PIDS="$PIDS $!"
		for _i in $(seq 1 100); do
			[ "$(cli PING 2>/dev/null)" = PONG ] && break
			sleep 0.1
		done
		if [ "$(cli PING 2>/dev/null)" = PONG ]; then
			SPID=$(cli INFO server | sed -n 's/^process_id://p')
			PIDS="$PIDS $SPID"
			return 0
		fi
		tail -n 5 "$TMPD/$_name/redis.log" >&2
	done
	fail "$_name: redis-server did not start"
}

cli() { timeout 120 redis-cli -h 127.0.0.1 -p "$PORT" "$@" | tr -d '\r'; }
field() { cli INFO memory | sed -n "s/^$1://p"; }
vmrss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$SPID/status"; }
nfail=0
bad() { echo "FAIL: $*" >&2; nfail=$((nfail + 1)); }

# ---- hakmem -----------------------------------------------------------------
JSON=$TMPD/hakmem.json
start hakmem LD_PRELOAD="$LIBHAKMEM" \
	HAKMEM_CONF="decay_ms=-1,opt.stats_print=json,opt.stats_file=$JSON"
HPORT=$PORT HPID=$SPID
[ "$(cli DEBUG POPULATE "$N")" = OK ] || fail "DEBUG POPULATE $N"
[ "$(cli DBSIZE)" = "$N" ] || bad "DBSIZE is $(cli DBSIZE), not $N"
[ "$(cli GET key:1234567)" = value:1234567 ] || [ "$N" -le 1234567 ] || bad "GET key:1234567: $(cli GET key:1234567)"

# 1. INFO memory
cli INFO memory >"$TMPD/info"
echo "redis under hakmem, $N keys:"
grep -E '^(used_memory|used_memory_rss|allocator_[a-z_]*|mem_allocator|mem_fragmentation_ratio):' "$TMPD/info" | sed 's/^/  /'
used=$(sed -n 's/^used_memory://p' "$TMPD/info")
alloc=$(sed -n 's/^allocator_allocated://p' "$TMPD/info")
active=$(sed -n 's/^allocator_active://p' "$TMPD/info")
resident=$(sed -n 's/^allocator_resident://p' "$TMPD/info")
rss=$(sed -n 's/^used_memory_rss://p' "$TMPD/info")
grep -q '^mem_allocator:' "$TMPD/info" || bad "no mem_allocator line"
case "$used$alloc$active$resident$rss" in *[!0-9]*|'') fail "INFO memory: numbers missing";; esac
[ "$alloc" -gt 0 ] || bad "allocator_allocated is 0: no mallctl answered"
diff=$((alloc > used ? alloc - used : used - alloc))
[ $((diff * 10)) -le "$used" ] || bad "allocator_allocated $alloc is not within 10 % of used_memory $used"
[ "$active" -ge "$alloc" ] || bad "allocator_active $active < allocator_allocated $alloc"
[ $((resident * 10)) -ge $((alloc * 9)) ] || bad "allocator_resident $resident is far below allocator_allocated $alloc"
[ "$resident" -le "$rss" ] || bad "allocator_resident $resident > used_memory_rss $rss"
cli MEMORY MALLOC-STATS >"$TMPD/mstats"
head -n 1 "$TMPD/mstats" | grep -q hakmem ||
	bad "MEMORY MALLOC-STATS is not hakmem's: $(head -n 2 "$TMPD/mstats")"

# 2. MEMORY DOCTOR
cli MEMORY DOCTOR >"$TMPD/doctor"
echo "MEMORY DOCTOR: $(head -c 300 "$TMPD/doctor" | tr '\n' ' ')"
if grep -E 'High allocator|allocator fragmentation|allocator RSS|High process RSS overhead|High total RSS' "$TMPD/doctor" >&2; then
	bad "MEMORY DOCTOR reports a problem"
fi

# 3. data integrity
digest=$(cli DEBUG DIGEST)
[ "$(cli DEBUG RELOAD)" = OK ] || bad "DEBUG RELOAD failed: $(tail -n 3 "$TMPD/hakmem/redis.log")"
reloaded=$(cli DEBUG DIGEST)
[ -n "$digest" ] && [ "$digest" = "$reloaded" ] || bad "DEBUG DIGEST $digest, after DEBUG RELOAD $reloaded"

# 4. MEMORY PURGE after FLUSHALL
cli FLUSHALL ASYNC >/dev/null
for i in $(seq 1 300); do
	[ "$(field lazyfree_pending_objects)" = 0 ] && break
	sleep 0.1
done
[ "$(cli DBSIZE)" = 0 ] || bad "FLUSHALL left $(cli DBSIZE) keys"
before=$(vmrss)
[ "$(cli MEMORY PURGE)" = OK ] || bad "MEMORY PURGE failed"
after=$(vmrss)
echo "FLUSHALL ASYNC: VmRSS $before kB, after MEMORY PURGE $after kB"
[ -n "$before" ] && [ -n "$after" ] && [ $((after * 2)) -lt "$before" ] ||
	bad "MEMORY PURGE did not give the flushed memory back: VmRSS $before -> $after kB"

# ---- 6. memory returns without MEMORY PURGE, at the default decay_ms ------------
start decay LD_PRELOAD="$LIBHAKMEM"
empty=$(vmrss)
[ "$(cli DEBUG POPULATE 16000 key 8192)" = OK ] || bad "decay: DEBUG POPULATE 16000 key 8192"
loaded=$(vmrss)
cli EVAL "for i = 0, 15999, 2 do redis.call('DEL', 'key:' .. i) end return 1" 0 >/dev/null
[ "$(cli DBSIZE)" = 8000 ] || bad "decay: DBSIZE $(cli DBSIZE) after deleting half"
sleep 2.5 # decay_ms (1 s) + 1.5 s, the server idle
half=$(vmrss)
# ASYNC: redis's lazy-free thread frees the values and goes idle (with the
# server's main thread idle too, nothing but the background thread decays).
cli FLUSHALL ASYNC >/dev/null
for i in $(seq 1 300); do
	[ "$(field lazyfree_pending_objects)" = 0 ] && break
	sleep 0.1
done
sleep 2.5
flushed=$(vmrss)
echo "decay_ms 1000: VmRSS empty $empty kB, 16000 x 8 KiB $loaded kB, half deleted + 2.5 s idle $half kB, FLUSHALL ASYNC + 2.5 s idle $flushed kB"
values=$((loaded - empty))
[ "$values" -gt 100000 ] || bad "decay: the values took $values kB only"
[ $((loaded - half)) -ge $((values / 3)) ] ||
	bad "decay: deleting half the values gave back $((loaded - half)) kB of $values kB"
[ "$flushed" -le $((empty + 16384)) ] ||
	bad "decay: after FLUSHALL ASYNC and 2.5 s idle VmRSS is $flushed kB (empty server $empty kB)"
cli SHUTDOWN NOSAVE >/dev/null 2>&1

# ---- the same keys on redis's own jemalloc ------------------------------------
start jemalloc
[ "$(cli DEBUG POPULATE "$N")" = OK ] || fail "jemalloc: DEBUG POPULATE $N"
cli INFO memory >"$TMPD/info.je"
echo "redis on its jemalloc, $N keys:"
grep -E '^(used_memory|used_memory_rss|allocator_allocated|allocator_active|allocator_resident):' "$TMPD/info.je" | sed 's/^/  /'
je_digest=$(cli DEBUG DIGEST)
[ "$je_digest" = "$digest" ] || bad "DEBUG DIGEST under hakmem $digest, under jemalloc $je_digest"
cli SHUTDOWN NOSAVE >/dev/null 2>&1

# ---- 5. hakmem served it --------------------------------------------------------
PORT=$HPORT
cli SHUTDOWN NOSAVE >/dev/null 2>&1
for i in $(seq 1 100); do
	kill -0 "$HPID" 2>/dev/null || break
	sleep 0.1
done
check_stats "$JSON" redis-server "$N" || nfail=$((nfail + 1))

[ "$nfail" -eq 0 ] || exit 1
echo "test_redis.sh: PASS"
