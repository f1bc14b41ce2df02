#!/bin/sh
# test_ctl_tool.sh - the hakmem-ctl tool, and the man page's key list.
#
#   keys      every key listed (tsv and columns), from the build tree's library
#             given by --lib and found on its own (../.libs)
#   man       doc/hakmem.3 lists exactly the library's keys (gen-man-keys.sh --check)
#   run       exit status passed through (0, 3, 7, a signal, not found); the
#             readable view, or the JSON to a file; --conf and HAKMEM_CONF
#             applied; a bad conf entry reported as one line; real programs
#             (python3 with PYTHONMALLOC=malloc; sqlite3 if installed)
#   json      the JSON parsed by python3 (json module): totals agree with the
#             per-class figures and with the tool's readable view
#   stats     `hakmem-ctl stats` renders a file; refuses what is not JSON
#
# python3 is needed for the JSON checks and the python3 program (skipped,
# with a note, without it). Exit 77 (SKIP) without a shared library.
abs_top_builddir=${abs_top_builddir:-$(pwd)}
abs_top_srcdir=${abs_top_srcdir:-$(cd "${srcdir:-.}" && pwd)}

CTL=$abs_top_builddir/ctl/hakmem-ctl
LIB=$abs_top_builddir/.libs/libhakmem.so
PAGE=$abs_top_srcdir/doc/hakmem.3
GEN=$abs_top_srcdir/ctl/gen-man-keys.sh

[ -x "$CTL" ] || { echo "FAIL: no $CTL (make all first)" >&2; exit 1; }
[ -f "$LIB" ] || { echo "SKIP: no shared library at $LIB" >&2; exit 77; }

TMPD=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-ctl-test.XXXXXX") || exit 1
trap 'rm -rf "$TMPD"' EXIT
unset HAKMEM_CONF

PY=
for c in "${PYTHON3:-}" python3 /usr/bin/python3; do
	if [ -n "$c" ] && command -v "$c" >/dev/null 2>&1; then PY=$c; break; fi
done
# The interpreter itself, not a wrapper script (pyenv's shim is bash, and
# forks processes that would rewrite the statistics).
[ -z "$PY" ] || PY=$("$PY" -c 'import sys; print(sys.executable)') || PY=

nfail=0 npass=0
ok() { echo "ok: $*"; npass=$((npass + 1)); }
bad() { echo "FAIL: $*" >&2; nfail=$((nfail + 1)); }
# check DESCRIPTION COMMAND...: passes if the command succeeds.
check() { _d=$1; shift; if "$@"; then ok "$_d"; else bad "$_d"; fi; }

ctl() { "$CTL" --lib "$LIB" "$@"; }

# json_check FILE PYTHON-EXPRESSION: the expression (over `j`, the parsed
# document) is true.
json_check() {
	"$PY" - "$1" "$2" <<'PYEOF'
import json, sys
with open(sys.argv[1]) as f:
    j = json.load(f)
ok = eval("(" + sys.argv[2] + "\n)")
if not ok:
    sys.stderr.write("json_check %s: false: %s\n" % (sys.argv[1], sys.argv[2]))
sys.exit(0 if ok else 1)
PYEOF
}

# ---- basics --------------------------------------------------------------
check "--version" sh -c '"$0" --version | grep -q "^hakmem-ctl [0-9]"' "$CTL"
check "--help" sh -c '"$0" --help | grep -q "hakmem-ctl .*run"' "$CTL"
"$CTL" frobnicate >/dev/null 2>&1
check "unknown command: status 2" [ $? -eq 2 ]
"$CTL" --lib /nonexistent/libhakmem.so keys >/dev/null 2>"$TMPD/err"
check "--lib of a missing file: status 2 and a message" \
	sh -c '[ $0 -eq 2 ] && grep -q nonexistent "$1"' $? "$TMPD/err"

# ---- keys -------------------------------------------------------------------
ctl keys --tsv >"$TMPD/keys.tsv"
check "keys --tsv: status 0" [ $? -eq 0 ]
nkeys=$(wc -l <"$TMPD/keys.tsv")
check "keys --tsv lists $nkeys keys (>= 50)" [ "$nkeys" -ge 50 ]
check "keys --tsv: 5 fields on every line" \
	awk -F '\t' 'NF != 5 { print "line " NR ": " $0; bad = 1 } END { exit bad }' "$TMPD/keys.tsv"
for k in version epoch tiny.fast_cap decay_ms stats.allocated thread.allocated \
	'stats.arenas.#.class.#.curregs' arenas.purge opt.stats_file; do
	check "keys lists $k" grep -q "^$k	" "$TMPD/keys.tsv"
done
check "keys: stats.allocated is size_t, r, bytes" \
	grep -q "^stats.allocated	size_t	r	bytes	." "$TMPD/keys.tsv"
check "keys: arenas.purge is write-only void" grep -q "^arenas.purge	void	w	" "$TMPD/keys.tsv"
ctl keys >"$TMPD/keys.txt"
check "keys: a header and one line per key" \
	sh -c '[ $(wc -l <"$0") -eq $(($1 + 1)) ] && head -1 "$0" | grep -q "^KEY  *TYPE  *MODE  *UNIT  *MEANING"' \
	"$TMPD/keys.txt" "$nkeys"
# Without --lib the tool finds the build tree's library (ctl/../.libs).
"$CTL" keys --tsv >"$TMPD/keys2.tsv" 2>"$TMPD/err"
check "keys without --lib finds ../.libs/libhakmem.so" cmp -s "$TMPD/keys.tsv" "$TMPD/keys2.tsv"
# A conf in the environment does not act on the tool.
HAKMEM_CONF=opt.stats_print=json,opt.stats_file=$TMPD/tool.json,bogus=1 ctl keys --tsv \
	>"$TMPD/keys3.tsv" 2>"$TMPD/err"
check "keys ignores HAKMEM_CONF" sh -c '[ ! -e "$0" ] && [ ! -s "$1" ] && cmp -s "$2" "$3"' \
	"$TMPD/tool.json" "$TMPD/err" "$TMPD/keys.tsv" "$TMPD/keys3.tsv"

# ---- the man page lists every key ----------------------------------------------
check "doc/hakmem.3 lists exactly the library's keys" sh "$GEN" --check "$CTL" "$LIB" "$PAGE"
if command -v man >/dev/null 2>&1 && command -v groff >/dev/null 2>&1; then
	for p in "$PAGE" "$abs_top_srcdir/doc/hakmem-ctl.1"; do
		LC_ALL=C MANWIDTH=100 man --warnings -l "$p" >"$TMPD/man.txt" 2>"$TMPD/man.err"
		check "man renders $(basename "$p") without warnings" \
			sh -c '[ -s "$0" ] && [ ! -s "$1" ] || { cat "$1" >&2; false; }' "$TMPD/man.txt" "$TMPD/man.err"
	done
	LC_ALL=C MANWIDTH=200 man -l "$PAGE" 2>/dev/null >"$TMPD/man.txt"
	check "the rendered hakmem(3) names every key" sh -c '
		cut -f1 "$0" | while IFS= read -r k; do
			grep -q -F -- "$k" "$1" || { echo "missing: $k" >&2; exit 1; }
		done' "$TMPD/keys.tsv" "$TMPD/man.txt"
else
	echo "note: man/groff not installed: the pages were not rendered"
fi

# ---- run: exit status ------------------------------------------------------------
# bash, not sh: dash leaves with _exit(), so hakmem's exit handler never runs
# (hakmem-ctl then says there are no statistics, tested below).
BASH=$(command -v bash) || { echo "SKIP: bash is needed" >&2; exit 77; }
ctl run -- "$BASH" -c 'exit 7' 2>"$TMPD/err"
check "run: exit status 7 passed through" [ $? -eq 7 ]
check "run: the readable view on stderr" \
	sh -c 'grep -q "^hakmem [0-9.]* statistics: " "$0" && grep -q "^  class  *size  *in use" "$0"' "$TMPD/err"
ctl run -- true 2>/dev/null
check "run: exit status 0" [ $? -eq 0 ]
ctl run -- sh -c 'kill -TERM $$' 2>"$TMPD/err"
rc=$?
check "run: killed by SIGTERM -> 143 (got $rc)" [ $rc -eq 143 ]
check "run: a killed command: says there are no statistics" grep -q "wrote no statistics" "$TMPD/err"
ctl run -- sh -c 'exit 6' 2>"$TMPD/err"
check "run: dash (exits with _exit): status 6, says there are no statistics" \
	sh -c '[ $0 -eq 6 ] && grep -q "wrote no statistics" "$1"' $? "$TMPD/err"
ctl run -- /nonexistent/cmd 2>"$TMPD/err"
rc=$?
check "run: command not found -> 127 (got $rc)" [ $rc -eq 127 ]
check "run: command not found: one message" sh -c '[ $(wc -l <"$0") -eq 1 ] && grep -q nonexistent "$0"' "$TMPD/err"
printf 'not a program\n' >"$TMPD/noexec"
chmod -x "$TMPD/noexec"
ctl run -- "$TMPD/noexec" 2>/dev/null
rc=$?
check "run: not executable -> 126 (got $rc)" [ $rc -eq 126 ]
ctl run 2>/dev/null
check "run without a command: status 2" [ $? -eq 2 ]
# A command that runs other programs (each under hakmem, each writing
# statistics as it exits): the command's status and a view.
mkdir "$TMPD/f"
TMPDIR=$TMPD/f ctl run -- "$BASH" -c 'ls / >/dev/null; ls / >/dev/null; exit 3' 2>"$TMPD/err"
check "run: a command that forks: status 3, a view, the directory removed" \
	sh -c '[ $0 -eq 3 ] && grep -q "^hakmem .* statistics" "$1" && [ -z "$(ls -A "$2")" ]' \
	$? "$TMPD/err" "$TMPD/f"
mkdir "$TMPD/t"
TMPDIR=$TMPD/t ctl run -- "$BASH" -c 'exit 0' 2>/dev/null
check "run: its temporary directory removed" sh -c '[ -z "$(ls -A "$0")" ]' "$TMPD/t"

# ---- run: output, files, conf ---------------------------------------------------
ctl run --stats-file "$TMPD/view.txt" -- "$BASH" -c 'echo out; echo err >&2; exit 3' \
	>"$TMPD/out" 2>"$TMPD/err"
rc=$?
check "run --stats-file: status 3" [ $rc -eq 3 ]
check "run --stats-file: the command's stdout and stderr untouched" \
	sh -c '[ "$(cat "$0")" = out ] && [ "$(cat "$1")" = err ]' "$TMPD/out" "$TMPD/err"
check "run --stats-file: the view in the file" grep -q "^hakmem .* statistics" "$TMPD/view.txt"

ctl run --stats=json --stats-file "$TMPD/sh.json" --conf 'tiny.fast_cap=64, decay_ms=0' \
	-- "$BASH" -c 'exit 0' 2>"$TMPD/err"
check "run --stats=json: status 0, nothing on stderr" sh -c '[ $0 -eq 0 ] && [ ! -s "$1" ]' $? "$TMPD/err"
check "run --stats=json: a JSON object" sh -c 'head -c 12 "$0" | grep -q "^{\"version\""' "$TMPD/sh.json"
HAKMEM_CONF=tiny.refill=16,decay_ms=5 ctl run --conf decay_ms=2500,bogus.key=1 --stats=json \
	--stats-file "$TMPD/conf.json" -- "$BASH" -c 'exit 0' 2>"$TMPD/err"
check "run: a bad --conf entry: one line naming it, the command ran" \
	sh -c '[ $0 -eq 0 ] && [ $(wc -l <"$1") -eq 1 ] && grep -q "HAKMEM_CONF: unknown key .bogus.key." "$1"' \
	$? "$TMPD/err"
ctl run --stats=none --conf opt.stats_print=json,opt.stats_file="$TMPD/own.json" \
	-- "$BASH" -c 'exit 4' 2>"$TMPD/err"
check "run --stats=none: status 4, nothing printed, the user's opt.* kept" \
	sh -c '[ $0 -eq 4 ] && [ ! -s "$1" ] && [ -s "$2" ]' $? "$TMPD/err" "$TMPD/own.json"

if [ -n "$PY" ]; then
	check "JSON (python3): --conf applied (tiny.fast_cap 64, decay_ms 0)" \
		json_check "$TMPD/sh.json" 'j["tiny"]["fast_cap"] == 64 and j["decay_ms"] == 0'
	check "JSON (python3): HAKMEM_CONF then --conf (refill 16, decay_ms 2500)" \
		json_check "$TMPD/conf.json" 'j["tiny"]["refill"] == 16 and j["decay_ms"] == 2500'
	check "JSON (python3): --stats=none kept the user's stats file" \
		json_check "$TMPD/own.json" '"stats" in j'
else
	echo "note: no python3: JSON checks skipped"
fi

# ---- run: real programs ------------------------------------------------------------
if [ -n "$PY" ]; then
	cat >"$TMPD/work.py" <<'PY'
import json, sys
d = {"k%d" % i: [i, str(i) * 3, {"x": i}] for i in range(60000)}
blob = json.dumps(d)
big = [bytearray(100000) for _ in range(20)] + [bytearray(2000000) for _ in range(20)]
print(len(d), len(json.loads(blob)), sum(map(len, big)))
sys.exit(int(sys.argv[1]))
PY
	PYTHONMALLOC=malloc PYTHONDONTWRITEBYTECODE=1 ctl run --stats=json \
		--stats-file "$TMPD/py.json" -- "$PY" "$TMPD/work.py" 5 >"$TMPD/py.out" 2>"$TMPD/py.err"
	rc=$?
	check "run python3: exit status 5 passed through (got $rc)" [ $rc -eq 5 ]
	check "run python3: its output" grep -q "^60000 60000 42000000$" "$TMPD/py.out"
	check "run python3: nothing on stderr" sh -c '[ ! -s "$0" ] || { cat "$0" >&2; false; }' "$TMPD/py.err"
	check "JSON (python3): the layout" json_check "$TMPD/py.json" '
all(k in j for k in ("version", "epoch", "tiny", "decay_ms", "arenas", "stats")) and
all(k in j["stats"] for k in ("allocated", "active", "resident", "mapped", "retained",
                              "metadata", "nmalloc", "nfree", "arenas")) and
len(j["stats"]["arenas"]) == j["arenas"]["narenas"] and
all(set(c) == {"size", "nmalloc", "nfree", "nrefills", "nflushes", "curslabs", "curregs", "ncached", "remote_frees"}
    for a in j["stats"]["arenas"].values() for c in a["classes"].values())'
	check "JSON (python3): python3 under hakmem: > 100000 allocations, large ones too" \
		json_check "$TMPD/py.json" 'j["stats"]["nmalloc"] > 100000 and j["stats"]["nfree"] > 0 and
sum(a["large"]["nmalloc"] for a in j["stats"]["arenas"].values()) >= 20'
	check "JSON (python3): nmalloc and nfree are the sums over classes and large" \
		json_check "$TMPD/py.json" '
all(j["stats"][f] == sum(c[f] for a in j["stats"]["arenas"].values() for c in a["classes"].values())
    + sum(a["large"][f] for a in j["stats"]["arenas"].values()) for f in ("nmalloc", "nfree"))'
	# Per arena, nmalloc/nfree count what threads bound to it did, and curregs
	# the blocks out of its slabs: the two meet over all arenas.
	check "JSON (python3): curregs >= in use in every class" json_check "$TMPD/py.json" '
all(sum(a["classes"].get(k, {}).get("curregs", 0) for a in j["stats"]["arenas"].values()) >=
    sum(a["classes"].get(k, {}).get("nmalloc", 0) - a["classes"].get(k, {}).get("nfree", 0)
        for a in j["stats"]["arenas"].values())
    for k in {k for a in j["stats"]["arenas"].values() for k in a["classes"]})'

	# The readable view of the same file agrees with the JSON.
	"$CTL" stats "$TMPD/py.json" >"$TMPD/py.view"
	check "stats FILE: status 0" [ $? -eq 0 ]
	want=$("$PY" -c 'import json,sys; s=json.load(open(sys.argv[1]))["stats"]; print("nmalloc %d, nfree %d" % (s["nmalloc"], s["nfree"]))' "$TMPD/py.json")
	check "stats FILE: the view shows $want" grep -q "calls  *$want," "$TMPD/py.view"
	check "stats FILE: the class table sums to nmalloc" "$PY" - "$TMPD/py.json" "$TMPD/py.view" <<'PYEOF'
import json, sys
s = json.load(open(sys.argv[1]))["stats"]
rows = {}
in_table = False
for line in open(sys.argv[2]):
    f = line.split()
    if f and f[0] == "class":
        in_table = True  # the memory lines above may start with a number too
    elif in_table and f and f[0].isdigit():
        rows[int(f[0])] = f
want = {}
for a in s["arenas"].values():
    for c, v in a["classes"].items():
        w = want.setdefault(int(c), [v["size"], 0, 0])
        w[1] += v["nmalloc"]; w[2] += v["nfree"]
ok = set(rows) == set(want)
for c, (size, m, fr) in want.items():
    r = rows.get(c)
    # class size inuse inuseB(2 fields) cached nmalloc nfree refills flushes slabs
    if not r or int(r[1]) != size or int(r[2]) != m - fr or int(r[-5]) != m or int(r[-4]) != fr:
        print("class %d: view %s, json size %d nmalloc %d nfree %d" % (c, r, size, m, fr))
        ok = False
sys.exit(0 if ok else 1)
PYEOF
	"$CTL" stats --arenas <"$TMPD/py.json" >"$TMPD/py.arenas"
	check "stats --arenas (stdin): one table per arena" \
		sh -c '[ $(grep -c "^arena [0-9]*:" "$0") -ge 1 ]' "$TMPD/py.arenas"
	"$CTL" stats --json "$TMPD/py.json" | cmp -s - "$TMPD/py.json"
	check "stats --json copies the document" [ $? -eq 0 ]
	# The default view, on stderr, of a python3 run.
	PYTHONMALLOC=malloc PYTHONDONTWRITEBYTECODE=1 ctl run -- "$PY" "$TMPD/work.py" 0 \
		>/dev/null 2>"$TMPD/py.err"
	check "run python3: status 0 and the view on stderr" \
		sh -c '[ $0 -eq 0 ] && grep -q "^  large " "$1"' $? "$TMPD/py.err"
else
	echo "note: no python3: the python3 run was skipped"
fi

if command -v sqlite3 >/dev/null 2>&1; then
	printf 'CREATE TABLE t(a, b);\nWITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)\nINSERT INTO t SELECT i, hex(randomblob(40)) FROM n;\nSELECT count(*), count(DISTINCT b) > 19000 FROM t;\n' >"$TMPD/work.sql"
	ctl run --stats-file "$TMPD/sq.view" -- sqlite3 "$TMPD/db" <"$TMPD/work.sql" >"$TMPD/sq.out" 2>&1
	rc=$?
	check "run sqlite3: status 0 (got $rc)" [ $rc -eq 0 ]
	check "run sqlite3: its output" grep -q "^20000|1$" "$TMPD/sq.out"
	check "run sqlite3: the view" grep -q "^hakmem .* statistics" "$TMPD/sq.view"
	ctl run --stats=none -- sqlite3 "$TMPD/db" 'SELECT * FROM no_such_table;' >/dev/null 2>&1
	rc=$?
	check "run sqlite3: its error status passed through (got $rc)" [ $rc -eq 1 ]
else
	echo "note: sqlite3 not installed: skipped"
fi

# ---- stats: bad input ------------------------------------------------------------
printf '{"version":"0.1.0","stats":{"allocated":1,' >"$TMPD/cut.json"
"$CTL" stats "$TMPD/cut.json" >/dev/null 2>"$TMPD/err"
check "stats: a truncated document: status 1 and a message" \
	sh -c '[ $0 -eq 1 ] && grep -q "not valid JSON" "$1"' $? "$TMPD/err"
printf '{"a":[1,2,{"b":null}],"c":"x\\u00e9"}' | "$CTL" stats >/dev/null 2>"$TMPD/err"
check "stats: JSON that is not hakmem's: status 1" \
	sh -c '[ $0 -eq 1 ] && grep -q "not hakmem statistics" "$1"' $? "$TMPD/err"

echo "$npass passed, $nfail failed"
[ $nfail -eq 0 ]
