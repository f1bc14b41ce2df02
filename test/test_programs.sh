#!/bin/sh
# test_programs.sh - real programs with libhakmem.so in LD_PRELOAD: each
# must print byte for byte what it prints without hakmem, and hakmem's JSON
# statistics must show it served the program (stats.nmalloc above a floor).
#
#   program  workload                                   Debian package
#   python3  dicts, lists, strings (PYTHONMALLOC=malloc)  python3
#   perl     hashes and regular expressions             perl-base / perl
#   sqlite3  20k-row insert in a transaction, aggregates  sqlite3
#   gcc      compile a C file (cc1 under hakmem), run it  gcc
#   lld      ld.lld, 2 threads: link generated objects     lld (and gcc)
#   git      pack-objects, 2 threads: a generated repo;   git
#            then the whole git repack -a -d -f
#
# A program that is not installed is skipped (the others still run); the
# whole test is SKIP (77) only when none is installed.
#
#   test_programs.sh [python3|perl|sqlite3|gcc|lld|git ...]
. "${abs_top_srcdir:-$(cd "${srcdir:-.}" && pwd)}/test/preload_common.sh"

NMIN=1000            # hakmem served more allocations than this
npass=0 nfail=0 nskip=0

# compare NAME: $TMPD/NAME.ref (plain run) and $TMPD/NAME.out (preloaded)
# are identical and non-empty.
compare() {
	if [ ! -s "$TMPD/$1.ref" ]; then
		echo "FAIL: $1: the plain run printed nothing" >&2
		return 1
	fi
	if ! cmp -s "$TMPD/$1.ref" "$TMPD/$1.out"; then
		echo "FAIL: $1: output under hakmem differs:" >&2
		diff "$TMPD/$1.ref" "$TMPD/$1.out" | head -20 >&2
		return 1
	fi
	echo "$1: identical output ($(wc -c <"$TMPD/$1.ref") bytes): $(head -c 200 "$TMPD/$1.ref" | head -3)"
}

# ran NAME RC: reports a non-zero exit of the preloaded run.
ran() {
	if [ "$2" -ne 0 ]; then
		echo "FAIL: $1 under hakmem exited with status $2; stderr:" >&2
		head -c 2000 "$TMPD/$1.err" >&2
		return 1
	fi
}

# ---- python3 ---------------------------------------------------------------
prog_python3() {
	# The interpreter itself, not a wrapper (pyenv's shim is a bash script).
	py=$(command -v python3) || return 77
	py=$("$py" -c 'import sys; print(sys.executable)') || return 77
	cat >"$TMPD/work.py" <<'PY'
import hashlib, json
d = {}
for i in range(150000):
    d["k%d" % i] = [i, str(i) * 3, (i, i * 2), {"x": i}]
s = 0
for k, v in d.items():
    s = (s * 31 + len(k) + v[0] + len(v[1]) + v[3]["x"]) % (1 << 61)
for i in range(0, 150000, 3):
    del d["k%d" % i]
words = " ".join(str(i * i) for i in range(100000)).split()
lst = sorted(words, key=lambda w: (len(w), w[::-1]))
blob = json.dumps({"w": lst[:20000], "n": len(d)}, sort_keys=True)
back = json.loads(blob)
h = hashlib.sha256("".join(lst).encode()).hexdigest()
parts = []
for i in range(50000):
    parts.append(("%x" % (i * 2654435761 % 2**32)) * (i % 7))
print(s, len(d), len(lst), len(blob), len(back["w"]), h)
print(hashlib.md5("|".join(parts).encode()).hexdigest(), sum(map(len, parts)))
PY
	PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1 PYTHONMALLOC=malloc \
		"$py" "$TMPD/work.py" >"$TMPD/python3.ref" 2>"$TMPD/python3.referr" ||
		{ echo "FAIL: python3 fails without hakmem" >&2; return 1; }
	PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1 PYTHONMALLOC=malloc \
		run_preloaded "$TMPD/python3.json" "$py" "$TMPD/work.py" \
		>"$TMPD/python3.out" 2>"$TMPD/python3.err"
	ran python3 $? && compare python3 && check_stats "$TMPD/python3.json" python3 100000
}

# ---- perl --------------------------------------------------------------------
prog_perl() {
	command -v perl >/dev/null 2>&1 || return 77
	cat >"$TMPD/work.pl" <<'PL'
use strict; use warnings;
my %h;
for my $i (1 .. 150000) { $h{"key$i"} = "v" . ($i * 7) . ("x" x ($i % 13)); }
my $n = 0;
for my $k (sort keys %h) { $n++ if $h{$k} =~ /^v\d*7\d*x{3,}$/; }
delete $h{"key$_"} for grep { $_ % 3 == 0 } 1 .. 150000;
my @w = map { join(",", reverse split //, $_ * 31) } 1 .. 40000;
my $s = join(";", @w);
(my $t = $s) =~ s/(\d),(\d)/$2$1/g;
my %count;
$count{$1}++ while $t =~ /(\d\d)/g;
my $top = join(" ", map { "$_=$count{$_}" } (sort { $count{$b} <=> $count{$a} || $a cmp $b } keys %count)[0 .. 9]);
print scalar(keys %h), " $n ", length($t), " ", unpack("%32C*", $t), "\n$top\n";
PL
	perl "$TMPD/work.pl" >"$TMPD/perl.ref" 2>"$TMPD/perl.referr" ||
		{ echo "FAIL: perl fails without hakmem" >&2; return 1; }
	# perl randomises hash order per process; the script sorts.
	run_preloaded "$TMPD/perl.json" perl "$TMPD/work.pl" >"$TMPD/perl.out" 2>"$TMPD/perl.err"
	ran perl $? && compare perl && check_stats "$TMPD/perl.json" perl 100000
}

# ---- sqlite3 -----------------------------------------------------------------
prog_sqlite3() {
	command -v sqlite3 >/dev/null 2>&1 || return 77
	{
		echo "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, val INTEGER, note TEXT);"
		echo "BEGIN;"
		awk 'BEGIN { for (i = 1; i <= 20000; i++)
			printf "INSERT INTO t VALUES(%d, '\''name%05d'\'', %d, %d, '\''%s'\'');\n",
				i, (i * 7919) % 20000, i % 37, (i * 104729) % 1000003, substr("abcdefghijklmnopqrstuvwxyz", 1 + i % 26) }'
		echo "COMMIT;"
		echo "CREATE INDEX t_grp ON t(grp, val);"
		echo "SELECT grp, count(*), sum(val), min(name), max(note), avg(length(note)) FROM t GROUP BY grp ORDER BY grp;"
		echo "SELECT count(DISTINCT name), total(val) FROM t;"
		echo "SELECT name, val FROM t WHERE grp = 5 ORDER BY val DESC LIMIT 5;"
		echo "SELECT a.grp, count(*) FROM t a JOIN t b ON a.id = b.val % 20000 + 1 WHERE a.grp < 4 GROUP BY a.grp ORDER BY 1;"
		echo "SELECT group_concat(name, ',') FROM (SELECT name FROM t ORDER BY name LIMIT 50);"
		echo "UPDATE t SET note = upper(note) || id WHERE id % 3 = 0;"
		echo "DELETE FROM t WHERE id % 5 = 0;"
		echo "SELECT count(*), sum(length(note)) FROM t;"
	} >"$TMPD/work.sql"
	rm -f "$TMPD/ref.db"
	sqlite3 "$TMPD/ref.db" <"$TMPD/work.sql" >"$TMPD/sqlite3.ref" 2>"$TMPD/sqlite3.referr" ||
		{ echo "FAIL: sqlite3 fails without hakmem" >&2; return 1; }
	rm -f "$TMPD/hak.db"
	run_preloaded "$TMPD/sqlite3.json" sqlite3 "$TMPD/hak.db" <"$TMPD/work.sql" \
		>"$TMPD/sqlite3.out" 2>"$TMPD/sqlite3.err"
	ran sqlite3 $? && compare sqlite3 && check_stats "$TMPD/sqlite3.json" sqlite3 20000
}

# ---- gcc ---------------------------------------------------------------------
prog_gcc() {
	command -v gcc >/dev/null 2>&1 || return 77
	cat >"$TMPD/work.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct node { unsigned key; struct node *l, *r; };

static struct node *insert(struct node *t, unsigned key)
{
	if (!t) {
		t = malloc(sizeof *t);
		t->key = key;
		t->l = t->r = NULL;
	} else if (key < t->key) {
		t->l = insert(t->l, key);
	} else if (key > t->key) {
		t->r = insert(t->r, key);
	}
	return t;
}

static unsigned long walk(const struct node *t, unsigned long h)
{
	if (!t)
		return h;
	h = walk(t->l, h);
	h = h * 1000003u ^ t->key;
	return walk(t->r, h);
}

int main(void)
{
	struct node *t = NULL;
	unsigned x = 12345;
	for (int i = 0; i < 20000; i++) {
		x = x * 1103515245u + 12345u;
		t = insert(t, x >> 8);
	}
	char buf[64];
	snprintf(buf, sizeof buf, "%lx", walk(t, 0));
	printf("tree %s len %zu\n", buf, strlen(buf));
	return 0;
}
C
	# cc1 does the compiler's allocating; the driver only spawns it (and
	# every process that exits rewrites the statistics file, the driver
	# last). So: preprocess plainly, then run cc1 alone under hakmem on the
	# .i and compare its assembly; and build + run the program with the
	# whole driver preloaded.
	cc1=$(gcc -print-prog-name=cc1)
	[ -x "$cc1" ] || { echo "FAIL: gcc: cc1 not found ($cc1)" >&2; return 1; }
	gcc -E -o "$TMPD/work.i" "$TMPD/work.c" || { echo "FAIL: gcc -E" >&2; return 1; }
	"$cc1" -fpreprocessed "$TMPD/work.i" -quiet -O2 -o "$TMPD/ref.s" 2>"$TMPD/gcc.referr" ||
		{ echo "FAIL: cc1 fails without hakmem" >&2; return 1; }
	run_preloaded "$TMPD/gcc.json" "$cc1" -fpreprocessed "$TMPD/work.i" -quiet -O2 \
		-o "$TMPD/hak.s" 2>"$TMPD/gcc.err"
	ran gcc $? || return 1
	if ! cmp -s "$TMPD/ref.s" "$TMPD/hak.s"; then
		echo "FAIL: gcc: cc1 under hakmem wrote different assembly:" >&2
		diff "$TMPD/ref.s" "$TMPD/hak.s" | head -20 >&2
		return 1
	fi
	check_stats "$TMPD/gcc.json" "gcc (cc1)" "$NMIN" || return 1

	gcc -O2 -o "$TMPD/ref.exe" "$TMPD/work.c" || { echo "FAIL: gcc fails without hakmem" >&2; return 1; }
	"$TMPD/ref.exe" >"$TMPD/gcc.ref"
	run_preloaded "$TMPD/gccdrv.json" gcc -O2 -o "$TMPD/hak.exe" "$TMPD/work.c" 2>"$TMPD/gcc.err"
	ran gcc $? || return 1
	[ -x "$TMPD/hak.exe" ] || { echo "FAIL: gcc under hakmem made no program" >&2; return 1; }
	"$TMPD/hak.exe" >"$TMPD/gcc.out"
	compare gcc && check_stats "$TMPD/gccdrv.json" "gcc (driver)" 100
}

# ---- lld ---------------------------------------------------------------------
prog_lld() {
	command -v ld.lld >/dev/null 2>&1 || return 77
	command -v gcc >/dev/null 2>&1 || return 77
	# Four objects of generated functions and variables, a section each;
	# ld.lld links them into a shared library with two threads: sections
	# collected (--gc-sections), identical ones folded (every t* is its f*),
	# strings merged, a build id hashed, a map file written.
	for m in 0 1 2 3; do
		awk -v m=$m 'BEGIN {
			for (i = 0; i < 300; i++) {
				printf "int g%d_%d = %d;\n", m, i, i * (m + 1)
				printf "static const char *const s%d_%d = \"string %d\";\n", m, i, i % 40
				b = sprintf("{ return x <= 0 ? g%d_%d : x + g%d_%d + s%d_%d[x & 3]%s; }", m, i, m, i, m, i,
					i + 1 < 300 ? sprintf(" + f%d_%d(x - 1)", m, i + 1) : "")
				if (i + 1 < 300)
					printf "int f%d_%d(int x);\n", m, i + 1
				printf "int f%d_%d(int x) %s\n", m, i, b
				if (i % 4 == 0)
					printf "int t%d_%d(int x) %s\n", m, i, b
			}
		}' >"$TMPD/lld$m.c"
		gcc -O0 -fPIC -ffunction-sections -fdata-sections -c -o "$TMPD/lld$m.o" "$TMPD/lld$m.c" ||
			{ echo "FAIL: lld: gcc -c of the generated objects" >&2; return 1; }
	done
	# LLD_IN_TEST=1: lld returns from main instead of calling _exit, so
	# that hakmem's exit handler writes the statistics.
	set -- --threads=2 -shared -O2 --gc-sections --icf=all --build-id=sha1 \
		"$TMPD/lld0.o" "$TMPD/lld1.o" "$TMPD/lld2.o" "$TMPD/lld3.o"
	LLD_IN_TEST=1 ld.lld "$@" -Map="$TMPD/ref.map" -o "$TMPD/ref.so" 2>"$TMPD/lld.referr" ||
		{ echo "FAIL: ld.lld fails without hakmem" >&2; return 1; }
	LLD_IN_TEST=1 run_preloaded "$TMPD/lld.json" ld.lld "$@" -Map="$TMPD/hak.map" \
		-o "$TMPD/hak.so" 2>"$TMPD/lld.err"
	ran lld $? || return 1
	if ! cmp -s "$TMPD/ref.so" "$TMPD/hak.so" || ! cmp -s "$TMPD/ref.map" "$TMPD/hak.map"; then
		echo "FAIL: lld: ld.lld under hakmem wrote a different library or map" >&2
		return 1
	fi
	echo "lld: identical output ($(wc -c <"$TMPD/ref.so") bytes, map of $(wc -l <"$TMPD/ref.map") lines)"
	check_stats "$TMPD/lld.json" "lld (ld.lld)" "$NMIN"
}

# ---- git ---------------------------------------------------------------------
prog_git() {
	command -v git >/dev/null 2>&1 || return 77
	export GIT_CONFIG_NOSYSTEM=1 HOME="$TMPD" XDG_CONFIG_HOME="$TMPD" LC_ALL=C
	unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
	# A fast-import stream: 60 commits (fixed dates), each editing three
	# lines in each of 1-3 of 12 files of 200 lines.
	awk 'function rnd(n) { seed = (seed * 16807) % 2147483647; return seed % n }
	BEGIN {
		seed = 7
		for (f = 0; f < 12; f++)
			for (i = 0; i < 200; i++)
				L[f, i] = sprintf("line %d of file %d: w%d w%d w%d", i, f, rnd(5000), rnd(5000), rnd(5000))
		for (c = 0; c < 60; c++) {
			t = 1700000000 + c * 600
			msg = sprintf("commit %d\n", c)
			printf "commit refs/heads/master\nmark :%d\n", c + 1
			printf "author A U Thor <author@example.com> %d +0000\n", t
			printf "committer C O Mitter <committer@example.com> %d +0000\n", t
			printf "data %d\n%s", length(msg), msg
			if (c)
				printf "from :%d\n", c
			for (k = 0; k <= c % 3; k++) {
				f = (c * 5 + k * 7) % 12
				for (e = 0; e < 3; e++)
					L[f, rnd(200)] = sprintf("edited in commit %d: v%d", c, rnd(9000))
				s = ""
				for (i = 0; i < 200; i++)
					s = s L[f, i] "\n"
				printf "M 100644 inline file%02d.txt\ndata %d\n%s\n", f, length(s), s
			}
			printf "\n"
		}
	}' >"$TMPD/history.fi"
	git init -q --bare "$TMPD/repo.git" &&
		git --git-dir="$TMPD/repo.git" fast-import --depth=0 --quiet <"$TMPD/history.fi" ||
		{ echo "FAIL: git: fast-import of the generated history" >&2; return 1; }
	# What git repack -a -d -f --window=50 --depth=50 --threads=2 runs,
	# into a directory of its own: without hakmem, then under it. The two
	# threads may split the delta search differently, so the packs are
	# compared by the objects they hold (and each checked whole).
	set -- --window=50 --depth=50 --threads=2 --no-reuse-delta --quiet --delta-base-offset
	set -- "$@" --keep-true-parents --honor-pack-keep --non-empty --all --reflog --indexed-objects
	mkdir "$TMPD/ref" "$TMPD/hak"
	git --git-dir="$TMPD/repo.git" pack-objects "$@" "$TMPD/ref/pack" </dev/null >/dev/null \
		2>"$TMPD/git.referr" || { echo "FAIL: git pack-objects fails without hakmem" >&2; return 1; }
	run_preloaded "$TMPD/git.json" git --git-dir="$TMPD/repo.git" pack-objects "$@" \
		"$TMPD/hak/pack" </dev/null >/dev/null 2>"$TMPD/git.err"
	ran git $? || return 1
	ref_idx=$(echo "$TMPD"/ref/pack-*.idx) hak_idx=$(echo "$TMPD"/hak/pack-*.idx)
	git verify-pack "$hak_idx" ||
		{ echo "FAIL: git: the pack written under hakmem is broken" >&2; return 1; }
	git show-index <"$ref_idx" | awk '{ print $2 }' | sort >"$TMPD/git.ref"
	git show-index <"$hak_idx" | awk '{ print $2 }' | sort >"$TMPD/git.out"
	compare git && check_stats "$TMPD/git.json" "git (pack-objects)" "$NMIN" || return 1

	# The whole git repack under hakmem (pack-objects is its child; the
	# statistics file is the parent's, written last), on a copy.
	cp -R "$TMPD/repo.git" "$TMPD/repack.git" || { echo "FAIL: git: cp -R" >&2; return 1; }
	run_preloaded "$TMPD/gitrepack.json" git --git-dir="$TMPD/repack.git" repack -a -d -f \
		--window=50 --depth=50 --threads=2 -q 2>"$TMPD/git.err"
	ran git $? || return 1
	if ! git --git-dir="$TMPD/repack.git" fsck --no-progress >/dev/null 2>"$TMPD/git.fsck" ||
		[ -s "$TMPD/git.fsck" ]; then
		echo "FAIL: git: git fsck after the repack under hakmem:" >&2
		head -5 "$TMPD/git.fsck" >&2
		return 1
	fi
	cp "$TMPD/git.ref" "$TMPD/gitrepack.ref"
	git show-index <"$(echo "$TMPD"/repack.git/objects/pack/pack-*.idx)" | awk '{ print $2 }' |
		sort >"$TMPD/gitrepack.out"
	compare gitrepack && check_stats "$TMPD/gitrepack.json" "git (repack)" 100
}

[ $# -gt 0 ] || set -- python3 perl sqlite3 gcc lld git
for p in "$@"; do
	case $p in
	python3|perl|sqlite3|gcc|lld|git) ;;
	*) fail "unknown program $p" ;;
	esac
	( prog_$p )
	rc=$?
	case $rc in
	0) echo "PASS: $p"; npass=$((npass + 1)) ;;
	77) echo "SKIP: $p is not installed"; nskip=$((nskip + 1)) ;;
	*) echo "FAIL: $p"; nfail=$((nfail + 1)) ;;
	esac
done
echo "$npass passed, $nfail failed, $nskip skipped"
[ $nfail -eq 0 ] || exit 1
[ $npass -gt 0 ] || exit 77
exit 0
