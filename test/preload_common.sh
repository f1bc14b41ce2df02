# preload_common.sh - shared by the shell tests that run programs with
# libhakmem.so in LD_PRELOAD. Sourced; sets:
#   LIBHAKMEM   the shared library
#   PY          a python3 for reading the JSON statistics (never preloaded)
#   TMPD        a scratch directory, removed on exit
# and defines run_preloaded, json_get, fail, skip.
#
# hakmem writes its statistics as JSON to opt.stats_file when a process
# exits; each preloaded command gets its own file.

abs_top_builddir=${abs_top_builddir:-$(pwd)}
abs_top_srcdir=${abs_top_srcdir:-$(cd "${srcdir:-.}" && pwd)}
export abs_top_builddir abs_top_srcdir

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*" >&2; exit 77; }

LIBHAKMEM=$abs_top_builddir/.libs/libhakmem.so
[ -f "$LIBHAKMEM" ] || skip "no shared library at $LIBHAKMEM (built with --disable-shared?)"

PY=
for c in "${PYTHON3:-}" python3 /usr/bin/python3; do
	if [ -n "$c" ] && command -v "$c" >/dev/null 2>&1; then PY=$c; break; fi
done
[ -n "$PY" ] || skip "python3 (Debian package python3) is needed to read the JSON statistics"

TMPD=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-test.XXXXXX") || fail "mktemp"
trap 'rm -rf "$TMPD"' EXIT

# run_preloaded JSON CMD...: runs CMD with hakmem preloaded; its statistics
# go to JSON. Exits with CMD's status (124 on a time-out).
run_preloaded() {
	_json=$1; shift
	rm -f "$_json"
	# timeout runs without hakmem (it outlives the command and would
	# overwrite its statistics); env execs the command in place.
	timeout 300 env LD_PRELOAD="$LIBHAKMEM" \
		HAKMEM_CONF="opt.stats_print=json,opt.stats_file=$_json" "$@"
}

# json_get FILE a.b.c: prints the value (nothing, and status 1, if absent
# or if FILE is not JSON).
json_get() {
	"$PY" - "$1" "$2" <<'PYEOF'
import json, sys
try:
    with open(sys.argv[1]) as f:
        v = json.load(f)
    for k in sys.argv[2].split("."):
        v = v[k]
except Exception as e:
    sys.stderr.write("json_get %s %s: %r\n" % (sys.argv[1], sys.argv[2], e))
    sys.exit(1)
print(v)
PYEOF
}

# check_stats JSON WHAT MIN_NMALLOC: the statistics exist, name a version,
# and show that hakmem served more than MIN_NMALLOC allocations (and some
# frees). Returns 1 (after printing why) if not.
check_stats() {
	_json=$1 _what=$2 _min=$3
	if [ ! -s "$_json" ]; then
		echo "FAIL: $_what: hakmem wrote no statistics to $_json (not preloaded? crashed?)" >&2
		return 1
	fi
	_ver=$(json_get "$_json" version) || { echo "FAIL: $_what: no version in $(head -c 300 "$_json")" >&2; return 1; }
	_nm=$(json_get "$_json" stats.nmalloc) || { echo "FAIL: $_what: no stats.nmalloc in $(head -c 300 "$_json")" >&2; return 1; }
	_nf=$(json_get "$_json" stats.nfree) || { echo "FAIL: $_what: no stats.nfree" >&2; return 1; }
	_al=$(json_get "$_json" stats.allocated) || { echo "FAIL: $_what: no stats.allocated" >&2; return 1; }
	echo "$_what: hakmem $_ver: nmalloc=$_nm nfree=$_nf allocated=$_al"
	case $_nm$_nf in *[!0-9]*|'') echo "FAIL: $_what: counts are not numbers" >&2; return 1;; esac
	if [ "$_nm" -le "$_min" ]; then
		echo "FAIL: $_what: stats.nmalloc=$_nm, expected more than $_min" >&2
		return 1
	fi
	if [ "$_nf" -le 0 ]; then
		echo "FAIL: $_what: stats.nfree=$_nf" >&2
		return 1
	fi
	return 0
}
