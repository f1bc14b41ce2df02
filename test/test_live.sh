#!/bin/sh
# test_live.sh - the live view: hakmem-ctl stats/get/set/top/ps PID on a
# running program (test/live_target under LD_PRELOAD=libhakmem.so, driven
# through its stdin).
#
#   same       get and stats PID give what the program reads itself with
#              hakmem_ctl / hakmem_stats_print at the same epoch
#   errors     unknown keys ENOENT, bad values EINVAL, start-only and
#              per-thread keys EPERM; the process carries on
#   hostile    raw requests (hakmem-ctl request): random bytes, NULs,
#              malformed lines, overlong numbers, 60 statistics at once
#   rss        set decay_ms=0, then set arenas.purge, lower VmRSS (/proc)
#   top        hakmem-ctl top in tmux shows the table and quits on q
#   busy       four tools at once, forty requests: every one answered
#   bg         background_thread=false, served by that thread itself, stops
#              it; true, served by a drain, starts it again
#   refused    another user (setpriv, when run as root), a dead process, a
#              process without hakmem, live.enabled=false; a single-threaded
#              idle program: a clear time-out; one that exits mid-request;
#              with opt.live_thread=true the same program answers
[ -n "$BASH_VERSION" ] || exec bash "$0" "$@"
. "${abs_top_srcdir:-$(cd "${srcdir:-.}" && pwd)}/test/preload_common.sh"
unset HAKMEM_CONF

CTL=$abs_top_builddir/ctl/hakmem-ctl
TARGET=$abs_top_builddir/test/live_target
[ -x "$CTL" ] || fail "no $CTL"
[ -x "$TARGET" ] || fail "no $TARGET"
PUB=
TM=
cleanup() {
	[ -z "$TM" ] || $TM kill-server 2>/dev/null
	[ -z "$PUB" ] || rm -rf "$PUB"
	[ -z "${TGT_PID:-}" ] || kill -9 "$TGT_PID" 2>/dev/null
	rm -rf "$TMPD"
}
trap cleanup EXIT

# start_target MODE CONF: the target as a coprocess; TPID its process id.
start_target() {
	coproc TGT { exec env LD_PRELOAD="$LIBHAKMEM" HAKMEM_CONF="$2" "$TARGET" "$1"; }
	read -r -t 30 -u "${TGT[0]}" word TPID || fail "target ($1) did not start"
	[ "$word" = ready ] || fail "target ($1) said '$word'"
}
# cmd LINE: a command to the target; waits for its "ok".
cmd() {
	echo "$*" >&"${TGT[1]}"
	read -r -t 60 -u "${TGT[0]}" ans || fail "target: no answer to '$*'"
	[ "$ans" = ok ] || fail "target: '$ans' to '$*'"
}
stop_target() {
	cmd exit
	wait "$TGT_PID" 2>/dev/null
	TGT_PID=
}
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
# expect_fail WHAT PATTERN CMD...: CMD fails, its stderr matching PATTERN.
expect_fail() {
	_what=$1 _pat=$2; shift 2
	if "$@" >"$TMPD/out" 2>"$TMPD/err"; then
		fail "$_what: succeeded: $(cat "$TMPD/out")"
	fi
	grep -q -- "$_pat" "$TMPD/err" || fail "$_what: stderr lacks '$_pat': $(cat "$TMPD/err")"
	echo "ok: $_what: $(head -1 "$TMPD/err")"
}

# ---- a multi-threaded program (a background thread answers) ----
start_target threaded "decay_ms=-1"

# same: the tool's reads equal the program's own at one epoch
cmd alloc 1000 100
"$CTL" set "$TPID" epoch=1 >/dev/null || fail "set epoch"
KEYS="stats.allocated stats.active stats.nmalloc stats.nfree stats.mapped epoch tiny.fast_cap decay_ms"
"$CTL" get "$TPID" $KEYS >"$TMPD/tool.txt" || fail "get: $(cat "$TMPD/tool.txt")"
cmd report "$TMPD/own.txt"
diff "$TMPD/own.txt" "$TMPD/tool.txt" >&2 || fail "get differs from the program's own hakmem_ctl reads"
grep -q '^stats.allocated=[1-9]' "$TMPD/tool.txt" || fail "stats.allocated is 0: hakmem does not serve the target"
echo "ok: same: get = the program's own reads ($(tr '\n' ' ' <"$TMPD/tool.txt"))"

"$CTL" stats "$TPID" --json >"$TMPD/tool.json" || fail "stats --json"
cmd statsjson "$TMPD/own.json"
"$PY" - "$TMPD/tool.json" "$TMPD/own.json" <<'PY' || fail "stats PID differs from hakmem_stats_print in the program"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
ea, eb = a.pop("epoch"), b.pop("epoch")
assert eb == ea + 1, (ea, eb)            # consecutive epochs, nothing between
if a != b:
    for k in sorted(set(a["stats"]) | set(b["stats"])):
        if a["stats"].get(k) != b["stats"].get(k):
            print("differs:", k, a["stats"].get(k), b["stats"].get(k), file=sys.stderr)
    sys.exit(1)
assert a["stats"]["nmalloc"] > 1000, a["stats"]
PY
"$CTL" stats "$TPID" >"$TMPD/tool.txt" || fail "stats PID"
"$CTL" stats "$TMPD/own.json" >"$TMPD/own.txt" || fail "stats FILE"
diff "$TMPD/own.txt" "$TMPD/tool.txt" >&2 || fail "stats PID (readable view) differs"
echo "ok: same: stats PID = hakmem_stats_print at the next epoch (JSON and readable view)"

# errors: each refused with its errno value, the process unharmed
expect_fail "unknown key" "ENOENT" "$CTL" get "$TPID" no.such.key
expect_fail "index out of range" "ENOENT" "$CTL" get "$TPID" stats.arenas.99999.mapped
expect_fail "bad value" "EINVAL" "$CTL" set "$TPID" tiny.fast_cap=lots
expect_fail "value out of range" "EINVAL" "$CTL" set "$TPID" tiny.fast_cap=999999
expect_fail "start-only key" "EPERM" "$CTL" set "$TPID" opt.narenas=3
expect_fail "read-only statistic" "EPERM" "$CTL" set "$TPID" stats.allocated=0
expect_fail "per-thread key" "EPERM" "$CTL" get "$TPID" thread.arena
expect_fail "action read" "EPERM" "$CTL" get "$TPID" arenas.purge
expect_fail "not a key name" "not a key name" "$CTL" get "$TPID" 'a b'
expect_fail "not a pid" "not a process id" "$CTL" get 12x version
"$CTL" set "$TPID" tiny.fast_cap=256 >/dev/null || fail "set tiny.fast_cap"
cmd report "$TMPD/own.txt"
grep -q '^tiny.fast_cap=256$' "$TMPD/own.txt" || fail "the program does not read the fast_cap the tool set"
echo "ok: errors: refused with ENOENT/EINVAL/EPERM; a valid set reaches the program"

# hostile: raw requests of every shape; the process answers each and lives
head -c 4096 /dev/urandom >"$TMPD/r1"
printf 'get version\0\0\0\nset \nget\n\n\n=\nset =1\nget ..\nstats\nstats xml\n\377\376\n' >"$TMPD/r2"
printf 'get %0200d\nset tiny.fast_cap=%0300d\nset decay_ms=-99999999999999999999\n' 1 1 >"$TMPD/r3"
for _ in $(seq 60); do echo "stats json"; done >"$TMPD/r4"
tr '\0' '\n' </dev/urandom | head -c 4000 >"$TMPD/r5"
for r in r1 r2 r3 r4 r5; do
	"$CTL" request "$TPID" <"$TMPD/$r" >"$TMPD/reply" || fail "hostile $r: no reply"
done
"$CTL" request "$TPID" <"$TMPD/r2" >"$TMPD/reply" || fail "hostile r2"
[ "$(grep -c '^err ' "$TMPD/reply")" -ge 8 ] || fail "hostile r2: $(cat "$TMPD/reply")"
grep -q '^ok version ' "$TMPD/reply" && fail "hostile r2: a line with NUL bytes was served"
"$CTL" request "$TPID" <"$TMPD/r4" >"$TMPD/reply" || fail "hostile r4"
[ "$(grep -c '^{"version"' "$TMPD/reply")" = 60 ] || fail "hostile r4: not 60 statistics documents"
head -c 4097 /dev/zero | tr '\0' a >"$TMPD/r6"
expect_fail "request over 4096 bytes" "more than 4096" "$CTL" request "$TPID" <"$TMPD/r6"
"$CTL" get "$TPID" version tiny.fast_cap decay_ms >"$TMPD/out" || fail "get after the hostile requests"
grep -q '^decay_ms=-1$' "$TMPD/out" || fail "hostile: decay_ms changed: $(cat "$TMPD/out")"
cmd alloc 100 100
echo "ok: hostile: random bytes, NULs, empty and malformed lines, overlong numbers, 60 stats at once: answered, nothing changed"

# rss: memory the program freed comes back when the tool says so
cmd free
cmd alloc 4096 16384
cmd free
r0=$(rss_kb "$TPID")
[ "$r0" -gt 50000 ] || fail "rss: only $r0 kB resident after freeing 64 MiB with decay_ms=-1"
"$CTL" set "$TPID" decay_ms=0 >/dev/null || fail "set decay_ms=0"
r1=$r0
for _ in $(seq 50); do r1=$(rss_kb "$TPID"); [ "$r1" -lt $((r0 - 40000)) ] && break; sleep 0.1; done
[ "$r1" -lt $((r0 - 40000)) ] || fail "rss: set decay_ms=0: VmRSS $r0 -> $r1 kB"
echo "ok: rss: set decay_ms=0: VmRSS $r0 -> $r1 kB"
"$CTL" set "$TPID" decay_ms=-1 >/dev/null || fail "set decay_ms=-1"
cmd alloc 4096 16384
cmd free
r0=$(rss_kb "$TPID")
"$CTL" set "$TPID" arenas.purge >/dev/null || fail "set arenas.purge"
r1=$(rss_kb "$TPID")
[ "$r1" -lt $((r0 - 40000)) ] || fail "rss: set arenas.purge: VmRSS $r0 -> $r1 kB"
echo "ok: rss: set arenas.purge: VmRSS $r0 -> $r1 kB"

# top: in a terminal (tmux), the table, and q quits
if command -v tmux >/dev/null 2>&1; then
	TM="tmux -L hakmem-live-$$ -f /dev/null"
	cmd alloc 20000 48
	$TM new-session -d -s top -x 150 -y 40 "$CTL top $TPID 2>$TMPD/top.err" ||
		fail "top: tmux new-session"
	ok=
	for _ in $(seq 50); do
		sleep 0.1
		$TM capture-pane -p -t top >"$TMPD/pane.txt" 2>/dev/null || break
		grep -q "remote/s" "$TMPD/pane.txt" && grep -q "^ *[0-9]* *48 *20" "$TMPD/pane.txt" && { ok=1; break; }
	done
	[ -n "$ok" ] || fail "top: no table in the pane: $(cat "$TMPD/pane.txt" "$TMPD/top.err" 2>/dev/null)"
	grep -q "hakmem-ctl top - process $TPID" "$TMPD/pane.txt" || fail "top: no header"
	grep -q "allocated" "$TMPD/pane.txt" || fail "top: no memory line"
	$TM send-keys -t top q
	for _ in $(seq 50); do $TM has-session -t top 2>/dev/null || break; sleep 0.1; done
	! $TM has-session -t top 2>/dev/null || fail "top: still running 5 s after q"
	$TM kill-server 2>/dev/null
	TM=
	echo "ok: top: the 48 B class with its 20000 blocks shown; q quit it"
	cmd free
else
	echo "note: tmux not installed (scripts/deps.sh installs it): top not tested in a terminal"
fi
"$CTL" top "$TPID" --iterations 2 --interval 0.2 >"$TMPD/top.txt" </dev/null || fail "top --iterations"
[ "$(grep -c 'hakmem-ctl top - process' "$TMPD/top.txt")" = 2 ] || fail "top --iterations 2: $(cat "$TMPD/top.txt")"

# busy: four tools at once
n0=$("$CTL" get "$TPID" stats.live.requests | cut -d= -f2)
for j in 1 2 3 4; do
	( for _ in $(seq 10); do "$CTL" get "$TPID" stats.allocated >/dev/null || exit 1; done ) &
done
bad=0
for j in 1 2 3 4; do wait -n || bad=$((bad + 1)); done
[ "$bad" = 0 ] || fail "busy: $bad of 4 tools failed"
n1=$("$CTL" get "$TPID" stats.live.requests | cut -d= -f2)
[ $((n1 - n0)) -ge 41 ] || fail "busy: only $((n1 - n0)) requests served"
echo "ok: busy: 4 tools x 10 requests at once, all answered ($((n1 - n0)) served)"

"$CTL" ps >"$TMPD/ps.txt" || fail "ps"
grep -Eq "^ *$TPID +[^ ]+ +.* yes +.*live_target" "$TMPD/ps.txt" || fail "ps: target not listed: $(cat "$TMPD/ps.txt")"
echo "ok: ps lists the target"

# refused: another user, when we can become one
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1; then
	PUB=$(mktemp -d /tmp/hakmem-live-pub.XXXXXX) && chmod 755 "$PUB" && cp "$CTL" "$PUB/" ||
		fail "copy the tool"
	n0=$("$CTL" get "$TPID" stats.live.requests | cut -d= -f2)
	expect_fail "another user" "belongs to user" \
		setpriv --reuid=65534 --regid=65534 --clear-groups "$PUB/hakmem-ctl" get "$TPID" version
	expect_fail "another user, stats" "belongs to user" \
		setpriv --reuid=65534 --regid=65534 --clear-groups "$PUB/hakmem-ctl" stats "$TPID"
	n1=$("$CTL" get "$TPID" stats.live.requests | cut -d= -f2)
	[ "$n1" = $((n0 + 1)) ] || fail "another user: the target served $((n1 - n0 - 1)) of its requests"
	setpriv --reuid=65534 --regid=65534 --clear-groups "$PUB/hakmem-ctl" ps >"$TMPD/ps.txt" ||
		fail "ps as another user"
	! grep -q "^ *$TPID " "$TMPD/ps.txt" || fail "ps as another user shows root's process"
else
	echo "note: not root: the other-user refusal is not tested"
fi

# the background thread stopped by a request it serves itself, and started
# again by one a drain serves
bg_running() { cat /proc/"$TPID"/task/*/comm 2>/dev/null | grep -q '^hakmem-bg$'; }
bg_running || fail "no hakmem-bg thread in the target"
"$CTL" set "$TPID" background_thread=false >/dev/null || fail "set background_thread=false"
for _ in $(seq 50); do bg_running || break; sleep 0.1; done
! bg_running || fail "background_thread=false: the thread still runs"
expect_fail "background thread stopped" "runs no background thread" "$CTL" get "$TPID" version --timeout 1
echo "busy 4000" >&"${TGT[1]}"
"$CTL" set "$TPID" background_thread=true --timeout 10 >/dev/null || fail "set background_thread=true"
read -r -t 60 -u "${TGT[0]}" ans && [ "$ans" = ok ] || fail "target: busy"
bg_running || fail "background_thread=true: no thread"
"$CTL" get "$TPID" version --timeout 5 >/dev/null || fail "get after the background thread came back"
echo "ok: background_thread=false served by the thread itself, true by a drain; requests answered again"

"$CTL" set "$TPID" live.enabled=false >/dev/null || fail "set live.enabled=false"
expect_fail "live.enabled=false" "turned off" "$CTL" get "$TPID" version
stop_target

# ---- a single-threaded program: no background thread ----
start_target single ""
t0=$(date +%s%N)
expect_fail "idle single-threaded" "runs no background thread" "$CTL" get "$TPID" version --timeout 1
echo "busy 4000" >&"${TGT[1]}"
"$CTL" get "$TPID" version --timeout 10 >"$TMPD/out" || fail "busy single-threaded: no answer"
grep -q '^version=' "$TMPD/out" || fail "busy single-threaded: $(cat "$TMPD/out")"
read -r -t 60 -u "${TGT[0]}" ans && [ "$ans" = ok ] || fail "target: busy"
echo "ok: busy single-threaded: answered from a thread-cache drain"
"$CTL" get "$TPID" version --timeout 20 >"$TMPD/out" 2>"$TMPD/err" &
tool=$!
sleep 0.5
kill -9 "$TPID"
t0=$(date +%s)
wait "$tool" && fail "exit mid-request: the tool succeeded"
[ $(($(date +%s) - t0)) -le 5 ] || fail "exit mid-request: the tool took $(($(date +%s) - t0)) s"
grep -q "exited before it answered" "$TMPD/err" || fail "exit mid-request: $(cat "$TMPD/err")"
echo "ok: exit mid-request: $(cat "$TMPD/err")"
wait "$TGT_PID" 2>/dev/null
TGT_PID=

# ---- a single-threaded program with opt.live_thread=true ----
start_target single "opt.live_thread=true"
cmd alloc 100 64
bg_running || fail "opt.live_thread=true: no background thread in a single-threaded program"
"$CTL" get "$TPID" version opt.live_thread --timeout 5 >"$TMPD/out" || fail "opt.live_thread: no answer while idle"
grep -q '^opt.live_thread=true$' "$TMPD/out" || fail "opt.live_thread: $(cat "$TMPD/out")"
echo "ok: opt.live_thread=true: a single-threaded program answers while it idles"
stop_target

# ---- processes that cannot answer ----
sleep 0 &
dead=$!
wait "$dead"
expect_fail "dead process" "no process $dead" "$CTL" get "$dead" version
sleep 30 &
plain=$!
expect_fail "no hakmem" "does not use hakmem" "$CTL" stats "$plain"
kill "$plain"
echo "PASS: test_live"
