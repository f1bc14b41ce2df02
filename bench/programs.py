#!/usr/bin/env python3
"""programs.py - real programs under hakmem and the peers: wall time and peak RSS.

Runs eight workloads of real programs (python3 twice, perl, sqlite3, gcc,
redis-server, and two multi-threaded ones: ld.lld and git pack-objects, two
threads each) under hakmem (LD_PRELOAD of BUILDDIR/.libs/libhakmem.so), glibc
(nothing preloaded), jemalloc, mimalloc and tcmalloc (LD_PRELOAD of their
libraries in /usr/lib/x86_64-linux-gnu, found or installed as bench/run.py
does), interleaved: for each round, for each workload, every allocator, in an
order rotated by one for every round and workload (no allocator always runs
first), each run after an os.sync(). Reports the medians of wall time and peak RSS, their ratios to
mimalloc's, the geometric means, and the target "peak RSS <= 0.95x mimalloc's
as a geometric mean, time not worse" (PASS/FAIL), in
OUT/programs.{json,md,svg}.

Measurements:
  - wall time: of the whole process tree (gcc: driver, cc1, as), from the
    runner's clock around /usr/bin/time; redis: the two redis-cli --pipe
    loads (SET of every key, then DEL of half of them).
  - peak RSS: /usr/bin/time's %M, the ru_maxrss that wait4 gives for its
    child, which includes the children that child waited for: the largest
    peak of any process of the tree (gcc: cc1's). /usr/bin/time forks a
    small process that execs the program, so no large pre-exec image enters
    ru_maxrss. redis: VmHWM of the server from /proc, read before it exits.

Every run is checked, and refused (left out of every number) when a check
fails:
  - exit status 0, no "ERROR: ld.so" in stderr (a preload the dynamic linker
    refused), and the same output as the other runs of the workload (a
    fingerprint of stdout; gcc: of the object file; lld: of the linked
    executable; git: of the names of the objects in the pack, which git
    verify-pack checks whole; redis: the pipe replies and DBSIZE);
  - the dynamic linker's own record (LD_DEBUG=bindings, one file per process
    of the tree): every binding of malloc, calloc, realloc and free, from
    every object of every process, went to the allocator under test
    (libc.so.6 for glibc), and the measured process (python3, perl, sqlite3,
    cc1, redis-server, ld.lld, git) bound malloc at least once;
  - hakmem runs: hakmem's own statistics (HAKMEM_CONF=opt.stats_print=json,
    opt.stats_file=DIR/hakmem.%p.json, written at exit) exist for the
    measured process and show stats.nmalloc of at least one allocation per
    item the workload makes; peer runs: no hakmem statistics at all (the
    same HAKMEM_CONF is given to every run).

redis-server links libjemalloc: with nothing preloaded it runs on jemalloc,
so its glibc run preloads libc.so.6 (malloc binds to glibc's, as the
bindings check proves); under every allocator but hakmem (which defines
mallctl) redis's mallctl calls still reach libjemalloc, which sets itself up
beside the allocator under test.

--callgrind adds instruction counts: after the timed rounds, each workload
but redis once per allocator at its quick size under valgrind
--tool=callgrind --trace-children=yes (which does not replace malloc, so the
preload works), the Ir of every process of the tree summed; checked by the
exit status, the output, the callgrind data (the measured process ran code in
the preloaded library, no process in another allocator's) and hakmem's
statistics. A refused count is reported, and the other counts go on.

Run it from the build directory:

    python3 ../bench/programs.py [--rounds N] [--quick] [--only a,b]
        [--allocators hakmem,glibc,...] [--callgrind] [--out DIR]

Standard library only; the allocator set-up is bench/run.py's (imported, not
run). Exit status: 0, 2 when a run (or a callgrind count) was refused, 1 on
a setup error.
"""

import argparse
import collections
import hashlib
import json
import math
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(HERE)


# bench/run.py: the allocator set-up and checks shared by the runners (it only
# defines things at import time).
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # nothing written into the source tree
import run as R  # noqa: E402

BASELINE = R.BASELINE
TARGET_RSS = 0.95        # hakmem's peak RSS, geometric mean of the ratios to mimalloc
TARGET_TIME = 1.00       # hakmem's wall time, the same: not worse than mimalloc
SETTLE_S = 3.0           # redis: seconds between the DEL (FLUSHALL) and the RSS reading
TIME_FMT = "PROGRAMS_TIME %e %U %S %M"
MALLOC_SYMS = ("malloc", "calloc", "realloc", "free")
# environment variables that would change an allocator's behaviour or the
# run's tracing: removed from every run
ENV_DROP = ("LD_PRELOAD", "LD_DEBUG", "LD_DEBUG_OUTPUT", "HAKMEM_CONF", "MALLOC_CONF",
            "GLIBC_TUNABLES", "PYTHONMALLOC")
ENV_DROP_PREFIX = ("MIMALLOC_", "TCMALLOC_", "JEMALLOC_", "HAKMEM_",
                   "GIT_")   # git_repack sets its own (GIT_DIR, GIT_CONFIG_NOSYSTEM)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- workloads
# Each workload writes its inputs into the scratch directory once; SIZES gives
# its size parameter (full, quick). floor: hakmem's stats.nmalloc must reach
# it in the measured process (one allocation per item made, at least).

SIZES = {
    "python3_churn": (50000, 10000),     # dict entries per round, 4 rounds
    "python3_phases": (250000, 60000),   # strings per phase, 3 phases
    "perl": (100000, 25000),             # hash entries per round, 4 rounds
    "sqlite3": (100000, 25000),          # rows
    "gcc": (180, 60),                    # generated functions (about 22 lines each)
    "redis": (200000, 50000),            # keys
    "lld": (120, 16),                    # object files linked (copies of 4 compiled modules)
    "git_repack": (1000, 60),            # commits of the generated repository
}

PY_CHURN = r'''
import json, sys
N = int(sys.argv[1])
acc = 0
for rnd in range(4):
    d = {}
    for i in range(N):
        d["key:%d:%d" % (rnd, i)] = {"id": i, "name": "n%07d" % (i * 7919 % N),
                                     "tags": [str(i % 13), str(i % 7)], "score": i * 0.5}
    lst = [v["name"] + k for k, v in d.items() if v["id"] % 3]
    lst.sort()
    s = json.dumps(d)
    back = json.loads(s)
    acc += len(s) + len(back) + len(lst)
    parts = "|".join(lst[: N // 2]).split("|")
    acc += sum(len(p) for p in parts)
    del d, lst, s, back, parts
print(acc)
'''

PY_PHASES = r'''
import sys
N = int(sys.argv[1])
keep = []
acc = 0
for phase in range(3):
    # build: N small strings keyed by strings
    d = {}
    for i in range(N):
        d["p%d:%d" % (phase, i)] = ("v%d" % i) * (1 + (i + phase) % 5)
    acc += sum(map(len, d.values()))
    # delete 15 in 16, scattered: the survivors pin the memory they sit in
    for i in range(N):
        if i % 16:
            del d["p%d:%d" % (phase, i)]
    keep.append(d)
    # build again, other sizes: bytes objects of 40-1000 B, then all dropped
    b = [bytes(40 + (i * 37 + phase) % 960) for i in range(N // 3)]
    acc += sum(map(len, b))
    del b
    # and tuples of an int, a float and a string (GC-tracked containers)
    t = [(i, i * 0.5, str(i)) for i in range(N // 2)]
    acc += len(t)
    del t
print(acc, sum(map(len, keep)))
'''

PERL_CHURN = r'''
use strict; use warnings;
my $N = shift;
my $acc = 0;
for my $round (0 .. 3) {
    my %h;
    for my $i (1 .. $N) {
        $h{"key$round:$i"} = "v" . ($i * 7) . ("x" x ($i % 29)) . "-$round";
    }
    my $n = 0;
    for my $k (sort keys %h) { $n++ if $h{$k} =~ /^v\d*7\d*x{3,}-\d$/; }
    delete $h{"key$round:$_"} for grep { $_ % 3 } 1 .. $N;
    my @w = map { join(",", reverse split //, $_ * 31) } 1 .. $N / 2;
    my $s = join(";", @w);
    (my $t = $s) =~ s/(\d),(\d)/$2$1/g;
    my %count;
    $count{$1}++ while $t =~ /(\d\d\d)/g;
    my @parts = split /;/, $t;
    my %seen = map { ($_ => length $_) } @parts;
    $acc += $n + scalar(keys %h) + length($t) + scalar(keys %count) + scalar(keys %seen);
}
print "$acc\n";
'''


def sqlite_script(n):
    alpha = "abcdefghijklmnopqrstuvwxyz" * 4
    L = ["PRAGMA synchronous=OFF;", "PRAGMA cache_size=-16000;",
         "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, val INTEGER, note TEXT);",
         "CREATE INDEX t_grp ON t(grp, val);", "CREATE INDEX t_name ON t(name);", "BEGIN;"]
    for i in range(1, n + 1):
        L.append("INSERT INTO t VALUES(%d,'name%06d',%d,%d,'%s');" % (
            i, (i * 7919) % n, i % 37, (i * 104729) % 1000003,
            alpha[i % 26:i % 26 + 10 + i % 60]))
    L += ["COMMIT;",
          "SELECT grp, count(*), sum(val), min(name), max(note), avg(length(note)) "
          "FROM t GROUP BY grp ORDER BY grp;",
          "SELECT count(DISTINCT name), total(val) FROM t;",
          "SELECT name, val FROM t WHERE grp = 5 ORDER BY val DESC LIMIT 5;",
          "SELECT a.grp, count(*) FROM t a JOIN t b ON a.id = b.val %% %d + 1 "
          "WHERE a.grp < 4 GROUP BY a.grp ORDER BY 1;" % n,
          "SELECT length(group_concat(name, ',')) FROM (SELECT name FROM t ORDER BY note, name);",
          "UPDATE t SET note = upper(note) || id WHERE id % 3 = 0;",
          "DELETE FROM t WHERE id % 2 = 0;",
          "VACUUM;",
          "SELECT count(*), sum(length(note)) FROM t;"]
    return "\n".join(L) + "\n"


def gcc_source(nfuncs):
    """A C file of NFUNCS structs and functions (switches, loops, snprintf, a
    call chain for the inliner) and a main calling them all."""
    L = ["#include <stdio.h>", "#include <stdlib.h>", "#include <string.h>", ""]
    for i in range(nfuncs):
        na = 4 + i % 8
        L.append("struct s%d { int a[%d]; double d; char name[%d]; struct s%d *next; };" % (
            i, na, 8 + i % 24, i))
        L.append("static int f%d(struct s%d *p, int n)" % (i, i))
        L.append("{")
        L.append("\tint acc = %d;" % i)
        L.append("\tfor (int k = 0; k < n; k++) {")
        L.append("\t\tswitch ((k * %d + acc) & 7) {" % (i * 2 + 1))
        for c in range(8):
            L.append("\t\tcase %d: acc += p->a[k %% %d] * %d; p->d += acc * 0.%d; break;" % (
                c, na, c + i, c + 1))
        L.append("\t\t}")
        L.append("\t\tif (p->next && (acc & %d)) acc ^= p->next->a[0];" % (1 << (i % 5)))
        L.append("\t\tsnprintf(p->name, sizeof p->name, \"%d:%d\", acc, k);")
        L.append("\t}")
        L.append("\treturn acc + (int)strlen(p->name)%s;" % (
            " + f%d((struct s%d *)p, n - 1)" % (i - 1, i - 1) if i else ""))
        L.append("}")
        L.append("")
    L.append("int main(int argc, char **argv)")
    L.append("{")
    L.append("\tint n = argc > 1 ? atoi(argv[1]) : 3;")
    L.append("\tlong t = 0;")
    for i in range(nfuncs):
        L.append("\t{ struct s%d *p = calloc(1, sizeof *p); t += f%d(p, n); free(p); }" % (i, i))
    L.append("\tprintf(\"%ld\\n\", t);")
    L.append("\treturn 0;")
    L.append("}")
    return "\n".join(L) + "\n"


def redis_value_size(rng):
    """16 B to 16 KiB, log-uniform (mean about 2.4 KiB)."""
    return int(math.exp(rng.uniform(math.log(16), math.log(16384))))


def write_redis_inputs(d, n):
    """d/load.resp: SET key:i (value of redis_value_size bytes) for i < n;
    d/del.resp: DEL of the even keys. Returns the bytes of all values."""
    import random
    rng = random.Random(42)
    total = 0
    with open(os.path.join(d, "load.resp"), "wb") as f:
        for i in range(n):
            k = b"key:%07d" % i
            size = redis_value_size(rng)
            total += size
            f.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (
                len(k), k, size, bytes([97 + i % 26]) * size))
    with open(os.path.join(d, "del.resp"), "wb") as f:
        for i in range(0, n, 2):
            k = b"key:%07d" % i
            f.write(b"*2\r\n$3\r\nDEL\r\n$%d\r\n%s\r\n" % (len(k), k))
    return total


LLD_TEMPLATES = 4        # distinct modules compiled by gcc; the objects are prefixed copies
LLD_FUNCS = 600          # functions per module
LLD_OPTS = ["--threads=2", "-O2", "--gc-sections", "--icf=all", "--build-id=sha1",
            "-z", "relro", "-z", "now"]


def lld_template(t, nfuncs=LLD_FUNCS):
    """Module T (of LLD_TEMPLATES) in C: NFUNCS functions in a call chain
    from entry(), each with a writable counter, a string literal (the same
    strings in every module: the linker merges them) and a const table of its
    own; every 4th function has a twin of the same body that is called too
    (--icf=all folds the pair), every 5th an unused variant (--gc-sections
    drops it). No libc call: objcopy --prefix-symbols=mJ_ makes a
    self-contained copy of it, module J."""
    L = []
    for i in range(nfuncs):
        L.append("int f%d(int);" % i)
        if i % 4 == 0:
            L.append("int d%d(int);" % i)
    for i in range(nfuncs):
        nk = 4 + (i + t) % 12
        L.append("int g%d = %d;" % (i, i * (t + 3)))
        L.append('static const char *const s%d = "module string %d: %s";' % (
            i, i % 97, "abcdefghijklmnopqrstuvwxyz"[(i + t) % 20:]))
        L.append("const short k%d[%d] = { %s };" % (
            i, nk, ", ".join(str((i * 31 + j * (t + 1)) % 4099) for j in range(nk))))
        calls = ""
        if i + 1 < nfuncs:
            calls += " + f%d(x - 1)" % (i + 1)
        if i % 4 == 0 and i + 8 < nfuncs:
            calls += " + d%d(x - 2)" % (i + 8)
        body = ("{ if (x <= 0) return g%d; g%d += x; return x * %d + k%d[x %% %d] + "
                "s%d[x & 7]%s; }" % (i, i, t + 1 + i % 5, i, nk, i, calls))
        L.append("int f%d(int x) %s" % (i, body))
        if i % 4 == 0:
            L.append("int d%d(int x) %s" % (i, body))
        if i % 5 == 0:
            L.append("int u%d(int x) { return x + g%d * %d; }" % (i, i, t + 7))
    L.append("int entry(int x) { return f0(x) + d0(x); }")
    return "\n".join(L) + "\n"


def lld_main_source(n):
    """main(), calling the entry() of the N modules."""
    L = ["int m%d_entry(int);" % j for j in range(n)]
    L.append("int main(int argc, char **argv)")
    L.append("{")
    L.append("\tint r = 0;")
    L.append("\t(void)argv;")
    L += ["\tr += m%d_entry(argc);" % j for j in range(n)]
    L.append("\treturn r & 1;")
    L.append("}")
    return "\n".join(L) + "\n"


def git_stream(ncommits, nfiles=40, lines=300):
    """A git fast-import stream: NCOMMITS commits on master, each changing a
    few lines of 1-4 of NFILES generated text files (300-573 lines of 3-11
    words); fixed names, dates and seed, so the same repository, object for
    object, every time."""
    import random
    rng = random.Random(7)
    files = []
    for f in range(nfiles):
        files.append(["%s line %d of file %d: %s" % (
            "#" if i % 10 == 0 else " ", i, f,
            " ".join("w%d" % rng.randrange(5000) for _ in range(3 + i % 9)))
            for i in range(lines + f * 7)])
    out = []
    for c in range(ncommits):
        changed = sorted(rng.sample(range(nfiles), 1 + c % 4))
        ops = []
        for f in changed:
            L = files[f]
            for _ in range(1 + rng.randrange(6)):
                k = rng.randrange(len(L))
                r = rng.random()
                if r < 0.5:
                    L[k] = "  edited in commit %d: %s" % (c, " ".join(
                        "v%d" % rng.randrange(9000) for _ in range(4)))
                elif r < 0.8:
                    L.insert(k, "  added in commit %d, %d" % (c, rng.randrange(10 ** 6)))
                elif len(L) > 50:
                    del L[k]
            data = ("\n".join(L) + "\n").encode()
            ops.append(b"M 100644 inline dir%d/file%02d.txt\ndata %d\n%s\n" % (
                f % 5, f, len(data), data))
        msg = b"commit %d: %d files\n" % (c, len(changed))
        t = 1700000000 + c * 600
        out.append(b"commit refs/heads/master\nmark :%d\n"
                   b"author A U Thor <author@example.com> %d +0000\n"
                   b"committer C O Mitter <committer@example.com> %d +0000\n"
                   b"data %d\n%s" % (c + 1, t, t, len(msg), msg))
        if c:
            out.append(b"from :%d\n" % c)
        out += ops
        out.append(b"\n")
    return b"".join(out)


def find_tools():
    """{tool: path or None}. python3 is the interpreter itself, not a
    wrapper (pyenv's shim is a shell script that would run under the preload
    and spawn the interpreter)."""
    tools = {t: shutil.which(t) for t in ("perl", "sqlite3", "gcc", "redis-cli", "ld.lld",
                                          "objcopy", "git", "valgrind")}
    tools["time"] = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
    tools["env"] = shutil.which("env") or "/usr/bin/env"
    tools["redis-server"] = "/usr/bin/redis-server" if os.access(
        "/usr/bin/redis-server", os.X_OK) else None
    py = shutil.which("python3")
    if py:
        r = R.run_quiet([py, "-c", "import sys; print(sys.executable)"])
        py = r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else None
    tools["python3"] = py
    return tools


def workloads(quick, tools):
    """The workload table: name, program, what it does, size, the regex that
    names the measured process, the nmalloc floor, and how to prepare it."""
    ix = 1 if quick else 0
    W = [
        {"name": "python3_churn", "program": "python3", "needs": ["python3"],
         "what": "4 rounds: a dict of N entries (small dicts, lists, strings, floats), a "
                 "sorted list from it, json.dumps + json.loads of the dict, a join and a "
                 "split; PYTHONMALLOC=malloc"},
        {"name": "python3_phases", "program": "python3", "needs": ["python3"],
         "what": "3 phases: a dict of N small strings, 15 in 16 deleted (scattered "
                 "survivors kept to the end), then N/3 bytes objects of 40-1000 B and N/2 "
                 "tuples made and dropped; RSS-sensitive; PYTHONMALLOC=malloc"},
        {"name": "perl", "program": "perl", "needs": ["perl"],
         "what": "4 rounds: a hash of N strings, sorted keys and a regex over every value, "
                 "2/3 deleted, N/2 strings split and joined, a global s///, a counting "
                 "m//g, a split and a hash of the parts"},
        {"name": "sqlite3", "program": "sqlite3", "needs": ["sqlite3"],
         "what": "N INSERTs in one transaction into a table with two indexes, aggregates, "
                 "a self-join, group_concat over a sort, an UPDATE of 1/3, a DELETE of "
                 "half, VACUUM (a database file, synchronous=OFF)"},
        {"name": "gcc", "program": "gcc", "needs": ["gcc"],
         "what": "gcc -O2 -c of a generated C file of N functions (about 22 lines each: "
                 "structs, switches, loops, a call chain); the whole tree measured "
                 "(driver, cc1, as); cc1 is the process hakmem's stats must show"},
        {"name": "redis", "program": "redis-server", "needs": ["redis-server", "redis-cli"],
         "what": "redis-server on a unix socket (no persistence): N keys with values of "
                 "16 B-16 KiB (log-uniform, about 2.4 KiB on average) through redis-cli "
                 "--pipe, DEL of half of them, %g s, RSS; FLUSHALL, %g s, RSS" % (
                     SETTLE_S, SETTLE_S)},
        {"name": "lld", "program": "ld.lld", "needs": ["ld.lld", "gcc", "objcopy"],
         "what": "ld.lld (C++, LLVM) with 2 threads (--threads=2) links a PIE against libc "
                 "from N object files of %d generated functions (+ twins and unused "
                 "variants, about 3,500 sections), copies of %d modules compiled with gcc -O0 "
                 "-ffunction-sections -fdata-sections, symbols renamed per copy by objcopy "
                 "--prefix-symbols; -O2 (string tail merging), --gc-sections, --icf=all, "
                 "--build-id=sha1, -z relro -z now and a map file (-Map, a line per "
                 "symbol); the command line is gcc -fuse-ld=lld's; LLD_IN_TEST=1: lld "
                 "returns from main (destructors, atexit) instead of _exit, so hakmem "
                 "writes its statistics" % (LLD_FUNCS, LLD_TEMPLATES)},
        {"name": "git_repack", "program": "git", "needs": ["git"],
         "what": "git pack-objects with 2 threads (its delta search), exactly as git "
                 "repack -a -d -f --window=50 --depth=50 --threads=2 runs it, into an "
                 "empty directory (the repository is never changed: every run packs the "
                 "same objects): a generated repository of N commits changing 40 text "
                 "files (fast-import, no deltas in its pack); --no-reuse-delta: every "
                 "delta searched again in a window of 50"},
    ]
    for w in W:
        w["n"] = SIZES[w["name"]][ix]
        w["missing"] = [t for t in w["needs"] if not tools.get(t)]
    return W


def prep_run(cmd, cwd, env=None, stdin=None, timeout=900):
    """A step of a workload's preparation (nothing preloaded, not measured):
    its stdout; RuntimeError with its stderr when it fails."""
    try:
        r = subprocess.run(cmd, cwd=cwd, env=env or base_env(), timeout=timeout,
                           stdin=stdin if stdin is not None else subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise RuntimeError("%s: %s" % (os.path.basename(cmd[0]), e))
    if r.returncode != 0:
        raise RuntimeError("%s exited with status %d: %s" % (
            " ".join(cmd[:3]), r.returncode, r.stderr.decode(errors="replace").strip()[-300:]))
    return r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")


def prep_parallel(cmds, cwd, jobs=None):
    """prep_run of each of CMDS, os.cpu_count() at a time."""
    jobs = jobs or os.cpu_count() or 2
    pending, running = list(cmds), []
    failure = None
    while pending or running:
        while pending and len(running) < jobs and failure is None:
            cmd = pending.pop(0)
            running.append((cmd, subprocess.Popen(cmd, cwd=cwd, env=base_env(),
                                                  stdin=subprocess.DEVNULL,
                                                  stdout=subprocess.DEVNULL,
                                                  stderr=subprocess.PIPE)))
        if not running:
            break
        cmd, p = running.pop(0)
        err = p.communicate()[1].decode(errors="replace")
        if p.returncode != 0 and failure is None:
            failure = "%s exited with status %d: %s" % (" ".join(cmd[:3]), p.returncode,
                                                         err.strip()[-300:])
    if failure:
        raise RuntimeError(failure)


def lld_link_command(tools, d, main_o, objs, out, mapfile):
    """The link command gcc -fuse-ld=lld would run for MAIN_O (its -###
    output: crt files, libc, libgcc, the dynamic linker, -pie), run as
    ld.lld itself, with OBJS after MAIN_O and LLD_OPTS and -Map added."""
    text = prep_run([tools["gcc"], "-fuse-ld=lld", "-###", main_o, "-o", out], d)
    lines = [l for l in text.splitlines() if l.startswith(" ") and "collect2" in l.split()[0]]
    if not lines:
        raise RuntimeError("gcc -fuse-ld=lld -### shows no collect2 command")
    args, it = [], iter(shlex.split(lines[-1])[1:])
    for a in it:
        if a == "-plugin":
            next(it, None)
        elif a.startswith("-plugin-opt=") or a in ("-fuse-ld=lld", "--build-id"):
            continue
        elif a == main_o:
            args += [main_o] + objs
        else:
            args.append(a)
    if main_o not in args:
        raise RuntimeError("gcc -fuse-ld=lld -### does not name %s" % main_o)
    return [tools["ld.lld"]] + LLD_OPTS + ["-Map=" + mapfile] + args


def shown_command(cmd, tmp):
    """CMD with the scratch dir as $TMP and a run of numbered files
    ($TMP/lld/m0.o ... m159.o) as one $TMP/lld/m{0..159}.o."""
    out = []
    for c in cmd:
        c = c.replace(tmp, "$TMP")
        m = re.match(r"^(.*/m)(\d+)(\.o)$", c)
        prev = re.match(r"^(.*/m)\{0\.\.(\d+)\}(\.o)$", out[-1]) if out else None
        if m and prev and prev.group(1) == m.group(1) and int(prev.group(2)) + 1 == int(m.group(2)):
            out[-1] = "%s{0..%s}%s" % (m.group(1), m.group(2), m.group(3))
        elif m and m.group(2) == "0":
            out.append("%s{0..0}%s" % (m.group(1), m.group(3)))
        else:
            out.append(c)
    return out


def prepare(w, tmp, tools):
    """Writes w's inputs under tmp and fills in its command. The command's
    paths are absolute; w['shown'] is the same with the scratch dir as $TMP."""
    n = w["n"]
    name = w["name"]
    d = os.path.join(tmp, name)
    os.makedirs(d, exist_ok=True)
    w["env"] = {"LC_ALL": "C"}
    w["stdin"] = None
    w["output_file"] = None     # fingerprinted instead of stdout
    w["output_pack"] = None     # a directory holding one git pack: fingerprint_pack
    w["remove"] = []            # removed before each run
    w["fresh_dirs"] = []        # emptied before each run
    if name.startswith("python3_"):
        src = os.path.join(d, name + ".py")
        with open(src, "w") as f:
            f.write(PY_CHURN if name == "python3_churn" else PY_PHASES)
        w["cmd"] = [tools["python3"], src, str(n)]
        w["env"].update(PYTHONMALLOC="malloc", PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1")
        w["main"], w["measured"] = r"python3?(\.\d+)?$", "python3"
        w["floor"] = n
    elif name == "perl":
        src = os.path.join(d, "churn.pl")
        with open(src, "w") as f:
            f.write(PERL_CHURN)
        w["cmd"] = [tools["perl"], src, str(n)]
        w["env"].update(PERL_HASH_SEED="0", PERL_PERTURB_KEYS="0")
        w["main"], w["measured"] = r"perl$", "perl"
        w["floor"] = n
    elif name == "sqlite3":
        sql = os.path.join(d, "work.sql")
        with open(sql, "w") as f:
            f.write(sqlite_script(n))
        db = os.path.join(d, "work.db")
        w["cmd"] = [tools["sqlite3"], db]
        w["stdin"] = sql
        w["remove"] = [db, db + "-journal"]
        w["main"], w["measured"] = r"sqlite3$", "sqlite3"
        w["floor"] = n
    elif name == "gcc":
        src = os.path.join(d, "gen.c")
        with open(src, "w") as f:
            f.write(gcc_source(n))
        obj = os.path.join(d, "gen.o")
        w["cmd"] = [tools["gcc"], "-O2", "-c", "-o", obj, src]
        w["output_file"] = obj
        w["remove"] = [obj]
        w["main"], w["measured"] = r"^cc1$", "cc1"
        w["floor"] = 10000
        w["lines"] = gcc_source(n).count("\n")
    elif name == "redis":
        w["value_bytes"] = write_redis_inputs(d, n)
        w["dir"] = d
        w["cmd"] = [tools["redis-server"], "--port", "0", "--unixsocket",
                    os.path.join(d, "redis.sock"), "--save", "", "--appendonly", "no",
                    "--dir", d, "--daemonize", "no", "--logfile", os.path.join(d, "redis.log")]
        w["main"], w["measured"] = r"redis-server$", "redis-server"
        w["floor"] = n
    elif name == "lld":
        K = LLD_TEMPLATES
        cmds = []
        modules = []
        for t in range(K):
            src = os.path.join(d, "module%d.c" % t)
            with open(src, "w") as f:
                f.write(lld_template(t))
            modules.append(os.path.join(d, "module%d.o" % t))
            cmds.append([tools["gcc"], "-O0", "-ffunction-sections", "-fdata-sections", "-c",
                         "-o", modules[-1], src])
        with open(os.path.join(d, "main.c"), "w") as f:
            f.write(lld_main_source(n))
        main_o = os.path.join(d, "main.o")
        cmds.append([tools["gcc"], "-O0", "-c", "-o", main_o, os.path.join(d, "main.c")])
        prep_parallel(cmds, d)
        objs = [os.path.join(d, "m%d.o" % j) for j in range(n)]
        prep_parallel([[tools["objcopy"], "--prefix-symbols=m%d_" % j, modules[j % K], o]
                       for j, o in enumerate(objs)], d)
        out, mapfile = os.path.join(d, "linked"), os.path.join(d, "linked.map")
        w["cmd"] = lld_link_command(tools, d, main_o, objs, out, mapfile)
        w["env"]["LLD_IN_TEST"] = "1"
        w["output_file"] = out
        w["remove"] = [out, mapfile]
        w["main"], w["measured"] = r"^ld\.lld$", "ld.lld"
        w["floor"] = 1000 * n
        w["input_bytes"] = sum(os.path.getsize(o) for o in objs)
    elif name == "git_repack":
        repo = os.path.join(d, "repo.git")
        w["env"].update(GIT_CONFIG_NOSYSTEM="1", HOME=d, XDG_CONFIG_HOME=d, GIT_DIR=repo)
        env = base_env()
        env.update(w["env"])
        shutil.rmtree(repo, ignore_errors=True)
        prep_run([tools["git"], "init", "-q", "--bare"], d, env)
        stream = os.path.join(d, "history.fi")
        with open(stream, "wb") as f:
            f.write(git_stream(n))
        with open(stream, "rb") as f:
            prep_run([tools["git"], "fast-import", "--depth=0", "--quiet"], d, env, stdin=f)
        os.unlink(stream)
        counts = prep_run([tools["git"], "count-objects", "-v"], d, env)
        m = re.search(r"^in-pack: (\d+)$", counts, re.M)
        if not m:
            raise RuntimeError("git count-objects -v: %s" % counts.strip()[:200])
        w["objects"] = int(m.group(1))
        outdir = os.path.join(d, "out")
        # what git repack -a -d -f --window=50 --depth=50 --threads=2 runs
        # (GIT_TRACE=1 shows it), less --write-bitmap-index-quiet, into OUTDIR
        w["cmd"] = [tools["git"], "pack-objects", "--window=50", "--depth=50", "--threads=2",
                    "--no-reuse-delta", "--quiet", "--delta-base-offset",
                    os.path.join(outdir, "pack"), "--keep-true-parents", "--honor-pack-keep",
                    "--non-empty", "--all", "--reflog", "--indexed-objects"]
        w["fresh_dirs"] = [outdir]
        w["output_pack"] = outdir
        # under callgrind, one thread: see CALLGRIND_NOTES
        w["callgrind_cmd"] = [c if c != "--threads=2" else "--threads=1" for c in w["cmd"]]
        w["main"], w["measured"] = r"^git$", "git (pack-objects)"
        w["floor"] = 10 * w["objects"]
    w["shown"] = shown_command(w["cmd"], tmp)
    if w["stdin"]:
        w["shown"] += ["<", w["stdin"].replace(tmp, "$TMP")]
    return w


# ---------------------------------------------------------------- proof

BIND_RE = re.compile(r"^\s*\d+:\s+binding file (.+?) \[\d+\] to (.+?) \[\d+\]: "
                     r"normal symbol `([^']+)'")


def is_shared_object(name):
    base = os.path.basename(name)
    return bool(re.search(r"\.so(\.\d+)*$", base)) or base.startswith("linux-vdso")


def parse_bindings(text):
    """One process's LD_DEBUG=bindings output: {'mains': names of the
    executables (not shared objects) that bound symbols, in order,
    'malloc': [(from, to, symbol)] for the malloc family}."""
    mains, binds = [], []
    for line in text.splitlines():
        m = BIND_RE.match(line)
        if not m:
            continue
        src, dst, sym = m.groups()
        if not is_shared_object(src) and src not in mains:
            mains.append(src)
        if sym in MALLOC_SYMS:
            binds.append((src, dst, sym))
    return {"mains": mains, "malloc": binds}


def read_bindings(ld_dir):
    """{pid: parse_bindings(...)} for every LD_DEBUG_OUTPUT file (ld.PID)."""
    out = {}
    for fn in sorted(os.listdir(ld_dir)) if os.path.isdir(ld_dir) else []:
        m = re.match(r"^ld\.(\d+)$", fn)
        if not m:
            continue
        with open(os.path.join(ld_dir, fn), errors="replace") as f:
            out[int(m.group(1))] = parse_bindings(f.read())
    return out


def read_stats(stats_dir):
    """{pid: hakmem's JSON statistics, or an error string} from hakmem.PID.json."""
    out = {}
    for fn in sorted(os.listdir(stats_dir)) if os.path.isdir(stats_dir) else []:
        m = re.match(r"^hakmem\.(\d+)\.json$", fn)
        if not m:
            continue
        try:
            with open(os.path.join(stats_dir, fn)) as f:
                out[int(m.group(1))] = json.load(f)
        except (OSError, ValueError) as e:
            out[int(m.group(1))] = "unreadable: %s" % e
    return out


def check_proof(allocator, lib, main_re, floor, bindings, stats, stderr):
    """Returns (reason or None, proof summary). lib: the preloaded library
    (None: nothing preloaded, glibc)."""
    proof = {"processes": len(bindings), "measured_pid": None, "nmalloc": None,
             "stats_files": len(stats), "bound_to": None}
    if "ERROR: ld.so" in (stderr or ""):
        line = [l for l in stderr.splitlines() if "ERROR: ld.so" in l][0]
        return "the dynamic linker refused the preload: %s" % line.strip()[:300], proof
    if not bindings:
        return "no LD_DEBUG=bindings output: nothing proves who served the run", proof
    want = R.expected_lib_names(lib)
    own = set(want)   # bindings made by the allocator itself (to libc underneath) are its own
    targets = set()
    for pid, b in sorted(bindings.items()):
        for src, dst, sym in b["malloc"]:
            if not is_shared_object(dst):
                continue    # the executable's canonical PLT entry, which binds on its own
            if os.path.basename(src) in own or os.path.basename(os.path.realpath(src)) in own:
                continue
            base = os.path.basename(dst)
            targets.add(base)
            if base not in want and os.path.basename(os.path.realpath(dst)) not in want:
                return ("process %d (%s): %s's `%s' bound to %s, not %s" % (
                    pid, " ".join(b["mains"]) or "?", src, sym, dst,
                    "/".join(sorted(want)))), proof
    proof["bound_to"] = sorted(targets)
    measured = [pid for pid, b in sorted(bindings.items())
                if any(re.search(main_re, os.path.basename(m)) for m in b["mains"])]
    if not measured:
        return "no traced process is the measured program (/%s/)" % main_re, proof
    pid = measured[0]
    proof["measured_pid"] = pid
    if not any(sym == "malloc" and is_shared_object(dst)
               for _, dst, sym in bindings[pid]["malloc"]):
        return "the measured process %d never bound malloc" % pid, proof
    if allocator == "hakmem":
        st = stats.get(pid)
        if st is None:
            return "hakmem wrote no statistics for the measured process %d" % pid, proof
        if not isinstance(st, dict):
            return "hakmem's statistics for process %d are %s" % (pid, st), proof
        nm = st.get("stats", {}).get("nmalloc")
        if not isinstance(nm, int):
            return "hakmem's statistics for process %d have no stats.nmalloc" % pid, proof
        proof["nmalloc"] = nm
        if nm < floor:
            return "hakmem served %d allocations in process %d, fewer than %d" % (
                nm, pid, floor), proof
    elif stats:
        return "hakmem statistics exist (processes %s): hakmem ran instead of %s" % (
            ",".join(str(p) for p in sorted(stats)), allocator), proof
    return None, proof


# ---------------------------------------------------------------- runs

def base_env():
    env = {k: v for k, v in os.environ.items()
           if k not in ENV_DROP and not k.startswith(ENV_DROP_PREFIX)}
    return env


def trace_env(lib, rundir):
    """The variables every run of the program gets: the preload, the
    bindings trace, hakmem's statistics file (given to every allocator)."""
    e = {"LD_DEBUG": "bindings", "LD_DEBUG_OUTPUT": os.path.join(rundir, "ld"),
         "HAKMEM_CONF": "opt.stats_print=json,opt.stats_file=%s" % os.path.join(
             rundir, "hakmem.%p.json")}
    if lib:
        e["LD_PRELOAD"] = lib
    return e


def fresh_rundir(tmp):
    rundir = os.path.join(tmp, "run")
    shutil.rmtree(rundir, ignore_errors=True)
    os.makedirs(rundir)
    return rundir


def fingerprint_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def clean_outputs(w):
    """Removes what a run of w writes, so that each run starts the same."""
    for p in w["remove"]:
        if os.path.exists(p):
            os.unlink(p)
    for p in w.get("fresh_dirs", []):
        shutil.rmtree(p, ignore_errors=True)
        os.makedirs(p)


def fingerprint_pack(w, tools):
    """The one pack w wrote: checked by git verify-pack (every object
    rebuilt and hashed; nothing preloaded, not measured), fingerprinted by
    its index's sorted object names. Which deltas the two threads find
    depends on how they split the work, so the pack's bytes may differ
    between runs; the set of objects may not."""
    d = w["output_pack"]
    names = sorted(os.listdir(d)) if os.path.isdir(d) else []
    packs = [n for n in names if n.endswith(".pack")]
    idxs = [n for n in names if n.endswith(".idx")]
    if len(packs) != 1 or len(idxs) != 1 or packs[0][:-5] != idxs[0][:-4]:
        raise RuntimeError("expected one pack and its index in %s, found: %s" % (
            d, " ".join(names) or "nothing"))
    idx = os.path.join(d, idxs[0])
    env = base_env()
    env.update(w["env"])
    try:
        r = subprocess.run([tools["git"], "verify-pack", idx], env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise RuntimeError("git verify-pack: %s" % e)
    if r.returncode != 0:
        raise RuntimeError("git verify-pack %s failed: %s" % (
            idxs[0], r.stdout.decode(errors="replace").strip()[-300:]))
    with open(idx, "rb") as f:
        data = f.read()
    if len(data) < 8 + 1024 or data[:8] != b"\377tOc\0\0\0\2":
        raise RuntimeError("%s is not a version 2 pack index" % idxs[0])
    nobj = int.from_bytes(data[8 + 255 * 4:8 + 256 * 4], "big")
    oids = data[8 + 1024:8 + 1024 + 20 * nobj]
    if len(oids) != 20 * nobj:
        raise RuntimeError("%s is cut short" % idxs[0])
    return "%d objects, names %s" % (nobj, hashlib.sha256(oids).hexdigest()[:16])


def fingerprint_output(w, out_path, tools):
    """(fingerprint, None) of what a run of w made (its output file, its
    pack, or its stdout), or (None, why not)."""
    if w.get("output_pack"):
        try:
            return fingerprint_pack(w, tools), None
        except (RuntimeError, OSError) as e:
            return None, str(e)
    src = w["output_file"] or out_path
    if not os.path.exists(src):
        return None, "no output (%s)" % src
    return fingerprint_file(src), None


def parse_time_file(path):
    """/usr/bin/time's line: (elapsed, user, sys, maxrss_kb) or None."""
    try:
        with open(path) as f:
            lines = [l.split() for l in f if l.startswith("PROGRAMS_TIME ")]
    except OSError:
        return None
    if not lines or len(lines[-1]) != 5:
        return None
    try:
        e, u, s, m = lines[-1][1:]
        return float(e), float(u), float(s), int(m)
    except ValueError:
        return None


def run_program(w, allocator, lib, tmp, tools, timeout):
    """One run of a non-server workload under /usr/bin/time; the record."""
    rundir = fresh_rundir(tmp)
    clean_outputs(w)
    tfile = os.path.join(rundir, "time.txt")
    extra = dict(w["env"])
    extra.update(trace_env(lib, rundir))
    cmd = [tools["time"], "-o", tfile, "-f", TIME_FMT, tools["env"]] + [
        "%s=%s" % kv for kv in sorted(extra.items())] + w["cmd"]
    out_path = os.path.join(rundir, "stdout")
    stdin = open(w["stdin"]) if w["stdin"] else subprocess.DEVNULL
    t0 = time.monotonic()
    try:
        with open(out_path, "wb") as out:
            p = subprocess.run(cmd, stdin=stdin, stdout=out, stderr=subprocess.PIPE,
                               env=base_env(), cwd=os.path.join(tmp, w["name"]), timeout=timeout)
        rc, err = p.returncode, p.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired:
        rc, err = "timeout", "timed out after %d s" % timeout
    except OSError as e:
        rc, err = "oserror", str(e)
    finally:
        if w["stdin"]:
            stdin.close()
    wall = time.monotonic() - t0
    rec = {"allocator": allocator, "lib": lib, "rc": rc, "wall_s": round(wall, 4),
           "peak_kb": None, "user_s": None, "sys_s": None, "output": None,
           "stderr": err[-1500:], "refused": None}
    tm = parse_time_file(tfile)
    if tm:
        rec["user_s"], rec["sys_s"], rec["peak_kb"] = tm[1], tm[2], tm[3]
    if rc != 0:
        rec["refused"] = "exit status %s: %s" % (rc, err.strip()[-300:])
    elif tm is None:
        rec["refused"] = "no /usr/bin/time line in %s" % tfile
    else:
        rec["output"], rec["refused"] = fingerprint_output(w, out_path, tools)
    reason, proof = check_proof(allocator, lib, w["main"], w["floor"],
                                read_bindings(rundir), read_stats(rundir), err)
    rec["proof"] = proof
    if rec["refused"] is None:
        rec["refused"] = reason
    return rec


def cli(tools, sock, *args, stdin=None, timeout=120):
    r = subprocess.run([tools["redis-cli"], "-s", sock] + list(args), stdin=stdin,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=base_env(),
                       timeout=timeout)
    return r.returncode, r.stdout.decode(errors="replace").replace("\r", "")


def proc_status_kb(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def proc_cpu_s(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / float(os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


def info_fields(text, keys):
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(":")
        if k in keys:
            try:
                out[k] = int(v)
            except ValueError:
                pass
    return out


def run_redis(w, allocator, lib, tmp, tools, timeout):
    """One redis run: start the server, load, DEL half, settle, read RSS,
    FLUSHALL, settle, read RSS, SHUTDOWN; the record."""
    rundir = fresh_rundir(tmp)
    d = w["dir"]
    sock = os.path.join(d, "redis.sock")
    for fn in ("redis.sock", "redis.log"):
        if os.path.exists(os.path.join(d, fn)):
            os.unlink(os.path.join(d, fn))
    if allocator == "glibc":
        # redis-server links libjemalloc: preloading libc.so.6 puts glibc's
        # malloc first in the lookup order
        lib = R.find_peer_lib("libc.so.6")
    env = base_env()
    env.update(w["env"])
    env.update(trace_env(lib, rundir))
    rec = {"allocator": allocator, "lib": lib, "rc": None, "wall_s": None, "peak_kb": None,
           "output": None, "refused": None, "redis": {}}
    errf = open(os.path.join(rundir, "server.stderr"), "w+")
    srv = subprocess.Popen(w["cmd"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=errf, env=env)
    red = rec["redis"]
    reason = None
    try:
        for _ in range(200):
            if srv.poll() is not None:
                break
            if os.path.exists(sock) and cli(tools, sock, "PING", timeout=5)[1].strip() == "PONG":
                break
            time.sleep(0.05)
        if srv.poll() is not None:
            raise RuntimeError("redis-server exited with status %s at start-up" % srv.returncode)
        pid = srv.pid
        with open("/proc/%d/maps" % pid) as f:
            maps = f.read()
        want = R.expected_lib_names(lib)
        red["maps_has_lib"] = any(n in maps for n in want)
        t0 = time.monotonic()
        with open(os.path.join(d, "load.resp"), "rb") as f:
            rc1, out1 = cli(tools, sock, "--pipe", stdin=f, timeout=timeout)
        with open(os.path.join(d, "del.resp"), "rb") as f:
            rc2, out2 = cli(tools, sock, "--pipe", stdin=f, timeout=timeout)
        rec["wall_s"] = round(time.monotonic() - t0, 4)
        want_load = "errors: 0, replies: %d" % w["n"]
        want_del = "errors: 0, replies: %d" % len(range(0, w["n"], 2))
        if rc1 != 0 or want_load not in out1:
            raise RuntimeError("load: %s" % out1.strip()[-200:])
        if rc2 != 0 or want_del not in out2:
            raise RuntimeError("DEL: %s" % out2.strip()[-200:])
        dbsize = cli(tools, sock, "DBSIZE")[1].strip()
        rec["output"] = "%s|%s|dbsize=%s" % (want_load, want_del, dbsize)
        time.sleep(SETTLE_S)
        keys = ("used_memory", "used_memory_rss", "allocator_resident")
        red.update({"del_" + k: v for k, v in info_fields(cli(tools, sock, "INFO", "memory")[1],
                                                          keys).items()})
        red["del_vmrss_kb"] = proc_status_kb(pid, "VmRSS")
        red["del_vmhwm_kb"] = proc_status_kb(pid, "VmHWM")
        if cli(tools, sock, "FLUSHALL")[1].strip() != "OK":
            raise RuntimeError("FLUSHALL failed")
        time.sleep(SETTLE_S)
        red.update({"flush_" + k: v for k, v in info_fields(
            cli(tools, sock, "INFO", "memory")[1], keys).items()})
        red["flush_vmrss_kb"] = proc_status_kb(pid, "VmRSS")
        rec["peak_kb"] = proc_status_kb(pid, "VmHWM")
        red["server_cpu_s"] = proc_cpu_s(pid)
        cli(tools, sock, "SHUTDOWN", "NOSAVE", timeout=30)
        srv.wait(timeout=60)
        rec["rc"] = srv.returncode
        if srv.returncode != 0:
            reason = "redis-server exited with status %s" % srv.returncode
        elif not red["maps_has_lib"]:
            reason = "%s is not in redis-server's /proc/PID/maps" % "/".join(sorted(want))
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        reason = str(e)
    finally:
        if srv.poll() is None:
            srv.kill()
            srv.wait()
            reason = reason or "redis-server did not exit after SHUTDOWN"
    errf.seek(0)
    err = errf.read()
    errf.close()
    rec["stderr"] = err[-1500:]
    rec["rc"] = srv.returncode
    reason2, proof = check_proof(allocator, lib, w["main"], w["floor"],
                                 read_bindings(rundir), read_stats(rundir), err)
    rec["proof"] = proof
    # a preload that ld.so refused explains whatever else went wrong
    rec["refused"] = reason2 if reason2 and "ld.so" in reason2 else (reason or reason2)
    return rec


def refuse_odd_outputs(runs):
    """A run whose output differs from the most common one of its workload
    is refused (the programs are deterministic)."""
    by_w = collections.defaultdict(list)
    for r in runs:
        if not r["refused"]:
            by_w[r["workload"]].append(r)
    for wname, rs in by_w.items():
        common, _ = collections.Counter(r["output"] for r in rs).most_common(1)[0]
        for r in rs:
            if r["output"] != common:
                r["refused"] = "output %s differs from the other runs' %s" % (r["output"],
                                                                             common)


# ---------------------------------------------------------------- callgrind
# --callgrind: each workload (quick size, redis aside) once per allocator
# under valgrind --tool=callgrind --trace-children=yes: the instructions (Ir)
# of every process of the tree, summed. callgrind does not replace malloc
# (memcheck and the other heap tools do), so the preload works as in the
# timed runs.

CALLGRIND_SKIP = {
    "redis": "not run under callgrind: a server driven over a socket by separate "
             "redis-cli processes, with %g s pauses; its count would be the server's "
             "idle polling as much as its work" % SETTLE_S,
}
CALLGRIND_NOTES = {
    "git_repack": "counted with --threads=1: valgrind runs one thread at a time, and "
                  "with two the split of the delta search between them (a thread that "
                  "is done takes half of the other's remaining objects) follows "
                  "valgrind's time slices, which the allocator's own instructions move: "
                  "with two, counts of the same workload under the same allocator "
                  "differed by up to 40%",
}
# the allocator libraries: none but the one under test may run code
ALLOCATOR_LIB_RE = re.compile(r"^lib(hakmem|mimalloc|jemalloc|tcmalloc)")
CG_OB_RE = re.compile(r"^\((\d+)\)(?: (.*))?$")
# the allocation functions: the Ir of those callgrind could not place in an
# object count as the preloaded allocator's
ALLOC_FN_RE = re.compile(r"^(malloc|free|calloc|realloc|reallocarray|memalign|aligned_alloc|"
                         r"posix_memalign|valloc|pvalloc|malloc_usable_size|cfree|"
                         r"(tc|mi|je|hakmem)_\w+|operator (new|delete).*|_Zn[wa]\w*|_Zd[la]\w*)$")


def parse_callgrind(path):
    """One callgrind output file: {'pid', 'cmd', 'ir': its summary: (or
    totals:) line, 'self_ir': {object: Ir of the object's own code},
    'unknown_fn_ir': {function: Ir} of the code callgrind could not place in
    an object ('???': tcmalloc's malloc and free, which gperftools puts in a
    section of their own)}. The cost line after a calls= line is the call's
    inclusive cost: not the caller's own."""
    info = {"pid": None, "cmd": None, "ir": None, "self_ir": {}, "unknown_fn_ir": {}}
    names, fnames, cur, curfn, skip, totals = {}, {}, None, None, False, None
    self_ir = collections.defaultdict(int)
    unknown = collections.defaultdict(int)
    with open(path, errors="replace") as f:
        for line in f:
            c = line[:1]
            if c.isdigit() or c in "+-*":
                if skip:
                    skip = False
                elif cur is not None:
                    parts = line.split()
                    if len(parts) > 1 and parts[1].isdigit():
                        self_ir[cur] += int(parts[1])
                        if cur == "???":
                            unknown[curfn] += int(parts[1])
            elif line.startswith(("ob=", "cob=", "fn=", "cfn=")):
                key, _, val = line.rstrip("\n").partition("=")
                table = fnames if key.endswith("fn") else names
                m = CG_OB_RE.match(val)
                if m:
                    if m.group(2) is not None:
                        table[m.group(1)] = m.group(2)
                    val = table.get(m.group(1), "?")
                if key == "ob":
                    cur = val
                elif key == "fn":
                    curfn = val
            elif line.startswith("calls="):
                skip = True
            elif line.startswith("summary:"):
                info["ir"] = int(line.split()[1])
            elif line.startswith("totals:"):
                totals = int(line.split()[1])
            elif line.startswith("pid:"):
                info["pid"] = int(line.split()[1])
            elif line.startswith("cmd:"):
                info["cmd"] = line[4:].strip()
    if info["ir"] is None:
        info["ir"] = totals
    info["self_ir"] = dict(self_ir)
    info["unknown_fn_ir"] = dict(unknown)
    return info


def check_callgrind(allocator, lib, main_re, floor, procs, stats):
    """Returns (reason or None, proof): the measured process (named by its
    command line's first word) ran code in the library under test, no other
    allocator library ran code in any process, and hakmem's statistics (hakmem
    runs: there, at the floor; peers: absent)."""
    proof = {"measured_pid": None, "lib_ir": None, "nmalloc": None, "stats_files": len(stats)}
    if not procs:
        return "no callgrind output", proof
    for p in procs:
        if p["ir"] is None:
            return "no summary in the callgrind output of process %s" % p["pid"], proof
    want = R.expected_lib_names(lib)
    for p in procs:
        for ob, ir in sorted(p["self_ir"].items()):
            base = os.path.basename(ob)
            if ir > 0 and ALLOCATOR_LIB_RE.match(base) and base not in want:
                return "process %s (%s) ran %d instructions in %s, not the allocator " \
                       "under test" % (p["pid"], (p["cmd"] or "?").split(" ")[0], ir, ob), proof
    measured = [p for p in procs
                if re.search(main_re, os.path.basename((p["cmd"] or "").split(" ")[0]))]
    if not measured:
        return "no process of the tree is the measured program (/%s/)" % main_re, proof
    m = measured[0]
    proof["measured_pid"] = m["pid"]
    if lib:
        proof["lib_ir"] = sum(ir for ob, ir in m["self_ir"].items()
                              if os.path.basename(ob) in want) + \
            sum(ir for fn, ir in m.get("unknown_fn_ir", {}).items()
                if fn and ALLOC_FN_RE.match(fn))
        if not proof["lib_ir"]:
            return "the measured process %s ran no instruction in %s" % (
                m["pid"], "/".join(sorted(want))), proof
    if allocator == "hakmem":
        st = stats.get(m["pid"])
        nm = st.get("stats", {}).get("nmalloc") if isinstance(st, dict) else None
        if not isinstance(nm, int):
            return "no hakmem statistics (stats.nmalloc) for the measured process %s: %s" % (
                m["pid"], "none" if st is None else str(st)[:100]), proof
        proof["nmalloc"] = nm
        if nm < floor:
            return "hakmem served %d allocations in process %s, fewer than %d" % (
                nm, m["pid"], floor), proof
    elif stats:
        return "hakmem statistics exist (processes %s): hakmem ran instead of %s" % (
            ",".join(str(p) for p in sorted(stats)), allocator), proof
    return None, proof


def run_callgrind(w, allocator, lib, tmp, tools, timeout):
    """One run of w under callgrind; the record (never raises)."""
    rundir = fresh_rundir(tmp)
    rec = {"workload": w["name"], "allocator": allocator, "lib": lib, "n": w["n"], "rc": None,
           "wall_s": None, "ir": None, "processes": [], "output": None, "refused": None}
    env = base_env()
    env.update(w["env"])
    env["HAKMEM_CONF"] = "opt.stats_print=json,opt.stats_file=%s" % os.path.join(
        rundir, "hakmem.%p.json")
    if lib:
        env["LD_PRELOAD"] = lib
    cmd = [tools["valgrind"], "--tool=callgrind", "--trace-children=yes", "-q",
           "--callgrind-out-file=%s" % os.path.join(rundir, "callgrind.out.%p")] + (
               w.get("callgrind_cmd") or w["cmd"])
    out_path = os.path.join(rundir, "stdout")
    stdin = None
    t0 = time.monotonic()
    try:
        clean_outputs(w)
        stdin = open(w["stdin"]) if w["stdin"] else subprocess.DEVNULL
        with open(out_path, "wb") as out:
            p = subprocess.run(cmd, stdin=stdin, stdout=out, stderr=subprocess.PIPE, env=env,
                               cwd=os.path.join(tmp, w["name"]), timeout=timeout)
        rec["rc"], err = p.returncode, p.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired:
        rec["rc"], err = "timeout", "timed out after %d s" % timeout
    except OSError as e:
        rec["rc"], err = "oserror", str(e)
    finally:
        if w["stdin"] and stdin not in (None, subprocess.DEVNULL):
            stdin.close()
    rec["wall_s"] = round(time.monotonic() - t0, 2)
    rec["stderr"] = err[-1500:]
    if rec["rc"] != 0:
        rec["refused"] = "exit status %s: %s" % (rec["rc"], err.strip()[-300:])
        return rec
    rec["output"], rec["refused"] = fingerprint_output(w, out_path, tools)
    procs = []
    try:
        for fn in sorted(os.listdir(rundir)):
            if fn.startswith("callgrind.out."):
                procs.append(parse_callgrind(os.path.join(rundir, fn)))
    except (OSError, ValueError, IndexError) as e:
        rec["refused"] = rec["refused"] or "unreadable callgrind output: %s" % e
        return rec
    procs.sort(key=lambda p: p["pid"] or 0)
    reason, proof = check_callgrind(allocator, lib, w["main"], w["floor"], procs,
                                    read_stats(rundir))
    rec["proof"] = proof
    rec["refused"] = rec["refused"] or reason
    rec["processes"] = [{"pid": p["pid"], "cmd": (p["cmd"] or "")[:200].replace(tmp, "$TMP"),
                         "ir": p["ir"]} for p in procs]
    if not reason:
        rec["ir"] = sum(p["ir"] for p in procs)
    return rec


def callgrind_summary(names, runs, allocators):
    """{workload: {allocator: {ir, processes, lib_ir, nmalloc} or {refused}}}."""
    out = {}
    for wn in names:
        s = out[wn] = {}
        for a in allocators:
            rs = [r for r in runs if r["workload"] == wn and r["allocator"] == a]
            if not rs:
                continue
            r = rs[-1]
            if r["refused"]:
                s[a] = {"refused": r["refused"]}
            else:
                s[a] = {"ir": r["ir"], "processes": len(r["processes"]),
                        "lib_ir": r.get("proof", {}).get("lib_ir"),
                        "nmalloc": r.get("proof", {}).get("nmalloc")}
    return out


def callgrind_geomeans(names, summary, allocators, base=BASELINE):
    """{allocator: (geometric mean of ir / base's ir, workloads counted)}
    over the workloads where both counts are valid."""
    out = {}
    for a in allocators:
        vals = [summary[wn][a]["ir"] / float(summary[wn][base]["ir"]) for wn in names
                if summary.get(wn, {}).get(a, {}).get("ir")
                and summary.get(wn, {}).get(base, {}).get("ir")]
        out[a] = (R.geomean(vals) if vals else None, len(vals))
    return out


def count_instructions(wls, libs, allocators, tmp, tools, timeout, quick):
    """The callgrind pass: its section of the results. The workloads are
    WLS when they are the quick ones already prepared, else quick copies
    prepared under TMP/callgrind."""
    cg = {"runs": [], "skipped": {}, "sizes": {}, "workloads": []}
    if quick:
        cwls, ctmp = wls, tmp
    else:
        ctmp = os.path.join(tmp, "callgrind")
        names = [w["name"] for w in wls]
        cwls = [w for w in workloads(True, tools) if w["name"] in names]
    for w in cwls:
        if w["name"] in CALLGRIND_SKIP:
            cg["skipped"][w["name"]] = CALLGRIND_SKIP[w["name"]]
            continue
        if not quick:
            try:
                prepare(w, ctmp, tools)
            except (RuntimeError, OSError) as e:
                cg["skipped"][w["name"]] = "preparation failed: %s" % e
                log("programs: callgrind: %s is left out: %s" % (w["name"], e))
                continue
        cg["workloads"].append(w["name"])
        cg["sizes"][w["name"]] = w["n"]
        if w["name"] in CALLGRIND_NOTES:
            cg.setdefault("notes", {})[w["name"]] = CALLGRIND_NOTES[w["name"]]
        cells = []
        for a in allocators:
            try:
                rec = run_callgrind(w, a, libs[a], ctmp, tools, timeout)
            except Exception as e:   # one count lost, not the pass
                rec = {"workload": w["name"], "allocator": a, "lib": libs[a], "n": w["n"],
                       "ir": None, "processes": [], "output": None,
                       "refused": "the callgrind run failed: %r" % e}
            cg["runs"].append(rec)
            if rec["refused"]:
                log("programs: callgrind %s / %s REFUSED: %s" % (w["name"], a, rec["refused"]))
                cells.append("%s REFUSED" % a)
            else:
                cells.append("%s %s" % (a, fmt_ir(rec["ir"])))
        log("callgrind %-15s %s" % (w["name"], "  ".join(cells)))
    refuse_odd_outputs(cg["runs"])
    for r in cg["runs"]:
        if r["refused"]:
            r["ir"] = None
    cg["summary"] = callgrind_summary(cg["workloads"], cg["runs"], allocators)
    return cg


def fmt_ir(v):
    if v is None:
        return "-"
    return "%.3f G" % (v / 1e9) if v >= 1e9 else "%.1f M" % (v / 1e6)


# ---------------------------------------------------------------- analysis

REDIS_KEYS = ("del_vmrss_kb", "del_used_memory_rss", "del_used_memory", "flush_vmrss_kb",
              "flush_used_memory_rss", "del_allocator_resident", "server_cpu_s")


def median_spread(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return None, None
    return statistics.median(vals), (max(vals) - min(vals)) / 2.0


def summarize(wls, runs, allocators):
    """{workload: {allocator: {n, time_s, time_spread, peak_kb, peak_spread,
    nmalloc, [redis keys]} or {refused: count}}}."""
    summary = {}
    for w in wls:
        s = summary[w["name"]] = {}
        for a in allocators:
            rs = [r for r in runs if r["workload"] == w["name"] and r["allocator"] == a]
            if not rs:
                continue
            ok = [r for r in rs if not r["refused"]]
            if not ok:
                s[a] = {"refused": len(rs)}
                continue
            e = {"n": len(ok), "refused_runs": len(rs) - len(ok)}
            e["time_s"], e["time_spread"] = median_spread([r["wall_s"] for r in ok])
            e["peak_kb"], e["peak_spread"] = median_spread([r["peak_kb"] for r in ok])
            e["nmalloc"] = median_spread([r["proof"]["nmalloc"] for r in ok])[0]
            if w["name"] == "redis":
                for k in REDIS_KEYS:
                    e[k] = median_spread([r["redis"].get(k) for r in ok])[0]
            s[a] = e
    return summary


def ratio(summary, wname, a, key, base=BASELINE):
    s = summary.get(wname, {})
    x, b = s.get(a, {}).get(key), s.get(base, {}).get(key)
    if x is None or not b:
        return None
    return x / float(b)


def geomeans(wls, summary, allocators, key, base=BASELINE):
    """{allocator: geometric mean over the workloads of its ratio to base's},
    None where a workload lacks a valid median."""
    out = {}
    for a in allocators:
        vals = [ratio(summary, w["name"], a, key, base) for w in wls]
        out[a] = None if any(v is None for v in vals) or not vals else R.geomean(vals)
    return out


def targets(wls, summary):
    g_rss = geomeans(wls, summary, ["hakmem"], "peak_kb")["hakmem"]
    g_time = geomeans(wls, summary, ["hakmem"], "time_s")["hakmem"]
    rows = []
    for what, g, lim in (("peak RSS", g_rss, TARGET_RSS), ("wall time", g_time, TARGET_TIME)):
        st = "FAIL" if g is None else ("PASS" if g <= lim else "FAIL")
        rows.append({"what": what, "geomean": g, "limit": lim, "status": st,
                     "note": "not measured in every workload" if g is None else ""})
    overall = "PASS" if all(r["status"] == "PASS" for r in rows) else "FAIL"
    return {"rows": rows, "status": overall,
            "workloads": [w["name"] for w in wls]}


# ---------------------------------------------------------------- report

def mib(kb):
    return "-" if kb is None else "%.1f" % (kb / 1024.0)


def fr(v):
    return "-" if v is None else "%.2f" % v


def cell(summary, wname, a, key, fmt):
    e = summary.get(wname, {}).get(a)
    if e is None:
        return "-"
    if "refused" in e:
        return "REFUSED"
    v = e.get(key)
    if v is None:
        return "-"
    r = ratio(summary, wname, a, key)
    return "%s (%sx)" % (fmt(v), fr(r))


def markdown_callgrind(cg, allocators):
    """The report's section on the callgrind pass (lines)."""
    names, summary = cg.get("workloads", []), cg.get("summary", {})
    L = ["## Instructions (callgrind)", ""]
    L.append("Each workload once per allocator at its quick size (N below) under `valgrind "
             "--tool=callgrind --trace-children=yes`, one output file per process: the "
             "instructions executed (Ir) summed over every process of the tree (gcc: "
             "driver, cc1, as), with the ratio to mimalloc's (< 1: fewer). The same "
             "preload, variables and hakmem statistics file as the timed runs (callgrind "
             "does not replace malloc; memcheck and valgrind's other heap tools do), no "
             "LD_DEBUG. A count is refused when the run failed, its output differs from "
             "the other allocators' callgrind runs, the measured process (named by its "
             "command line) ran no instruction in the preloaded library, any process ran "
             "code in another allocator's library, or hakmem's statistics for the "
             "measured process are missing or under the floor (peers: present). valgrind "
             "runs the threads of lld and git one at a time, so their counts include "
             "whatever a thread spins while another holds a lock.")
    L.append("")
    for wn, why in sorted(list(cg.get("skipped", {}).items()) + list(cg.get("notes", {}).items())):
        L.append("- %s: %s" % (wn, why))
    if cg.get("skipped") or cg.get("notes"):
        L.append("")
    refused = [r for r in cg.get("runs", []) if r["refused"]]
    if refused:
        L.append("**REFUSED: %d callgrind run(s):**" % len(refused))
        L.append("")
        for r in refused:
            L.append("- %s, %s: %s" % (r["workload"], r["allocator"], r["refused"]))
        L.append("")
    if not names:
        L.append("(no workload counted)")
        L.append("")
        return L
    L.append("| workload | N | " + " | ".join(allocators) + " |")
    L.append("| --- | ---: | " + " | ".join("---:" for _ in allocators) + " |")
    for wn in names:
        cells = []
        for a in allocators:
            e = summary.get(wn, {}).get(a)
            if e is None:
                cells.append("-")
            elif "refused" in e:
                cells.append("REFUSED")
            else:
                b = summary[wn].get(BASELINE, {}).get("ir")
                cells.append("%s (%sx)" % (fmt_ir(e["ir"]), fr(e["ir"] / float(b) if b else None)))
        L.append("| %s | {:,} | %s |".format(cg["sizes"].get(wn, 0)) % (wn, " | ".join(cells)))
    g = callgrind_geomeans(names, summary, allocators)
    L.append("| **geometric mean of the ratios** | | %s |" % " | ".join(
        fr(g[a][0]) + ("" if g[a][1] == len(names) or g[a][0] is None
                       else " (%d of %d)" % (g[a][1], len(names))) for a in allocators))
    L.append("")
    peers = [a for a in allocators if a != "glibc"]
    L.append("Of which in the allocator's own library: the Ir of its code in the measured "
             "process (callgrind's self cost of the preloaded object; glibc's malloc is "
             "not separable from the rest of libc.so.6), and its share of the tree's Ir.")
    L.append("")
    L.append("| workload | " + " | ".join(peers) + " |")
    L.append("| --- | " + " | ".join("---:" for _ in peers) + " |")
    for wn in names:
        cells = []
        for a in peers:
            e = summary.get(wn, {}).get(a)
            if not e or "refused" in e or e.get("lib_ir") is None:
                cells.append("-")
            else:
                cells.append("%s (%.1f%%)" % (fmt_ir(e["lib_ir"]), 100.0 * e["lib_ir"] / e["ir"]))
        L.append("| %s | %s |" % (wn, " | ".join(cells)))
    L.append("")
    return L


def markdown(data):
    meta, wls, summary, tg = data["meta"], data["workloads"], data["summary"], data["targets"]
    A = meta["allocators"]
    L = ["# Real programs under hakmem and the peers (bench/programs.py)", ""]
    L.append("- date: %s; host: %s, %s, %d cores; kernel %s; python %s" % (
        meta["date"], meta["host"], meta["cpu"], meta["cores"], meta["kernel"],
        meta["python"]))
    L.append("- hakmem: %s (commit %s)" % (meta["libs"].get("hakmem"), meta["commit"]))
    vers = meta.get("versions", {})
    for n, pkg, _ in R.PEERS:
        if n in meta["libs"]:
            v = vers.get(pkg or "libc6")
            L.append("- %s: %s%s" % (n, meta["libs"][n] or "libc.so.6 (no preload)",
                                     " (%s %s)" % (pkg or "libc6", v) if v else ""))
    L.append("- programs: %s" % "; ".join("%s %s" % kv for kv in sorted(
        meta["program_versions"].items())))
    L.append("- %s mode, %d rounds, interleaved (each round: every workload, every "
             "allocator, starting from %s and rotated by one each round and workload; "
             "os.sync() before each run); 1-minute load average %s at the start, %s at "
             "the end; %.0f s in all" % (meta["mode"], meta["rounds"], " ".join(A),
                                         meta["loadavg_start"], meta["loadavg_end"],
                                         meta.get("elapsed_s", 0)))
    L.append("- command: `%s` (in %s)" % (meta["command"], meta["cwd"]))
    if meta.get("left_out"):
        L.append("- left out: %s" % "; ".join("%s (%s)" % kv for kv in sorted(
            meta["left_out"].items())))
    if (data.get("callgrind") or {}).get("elapsed_s") is not None:
        L.append("- callgrind pass: %.0f s" % data["callgrind"]["elapsed_s"])
    L.append("")
    refused = [r for r in data["runs"] if r["refused"]]
    if refused:
        L.append("**REFUSED: %d run(s) failed their checks and are left out:**" % len(refused))
        L.append("")
        for r in refused:
            L.append("- round %d, %s, %s: %s" % (r["round"], r["workload"], r["allocator"],
                                                r["refused"]))
        L.append("")
    L.append("![time and peak RSS relative to mimalloc](programs.svg)")
    L.append("")
    L.append("## Target: peak RSS <= %.2fx mimalloc's, time not worse (geometric means)"
             % TARGET_RSS)
    L.append("")
    L.append("hakmem's median against mimalloc's median in each workload (%s), "
             "geometric mean over the %d workloads (python3 counts twice: two "
             "workloads)." % (", ".join(tg["workloads"]), len(tg["workloads"])))
    L.append("")
    L.append("| measure | hakmem / mimalloc, geometric mean | target | status |")
    L.append("| --- | ---: | ---: | --- |")
    for t in tg["rows"]:
        L.append("| %s | %s | <= %.2f | %s%s |" % (t["what"], fr(t["geomean"]), t["limit"],
                                                  t["status"],
                                                  " (%s)" % t["note"] if t["note"] else ""))
    L.append("| **both** | | | **%s** |" % tg["status"])
    L.append("")
    g_t = geomeans(wls, summary, A, "time_s")
    g_r = geomeans(wls, summary, A, "peak_kb")
    for title, key, fmt, g, note in (
            ("Wall time", "time_s", lambda v: "%.3f" % v, g_t,
             "Median seconds over the rounds (ratio to mimalloc's; < 1 is faster). redis: "
             "the load and the DEL through redis-cli --pipe."),
            ("Peak RSS", "peak_kb", mib, g_r,
             "Median MiB over the rounds (ratio to mimalloc's; < 1 is smaller): "
             "/usr/bin/time's maximum resident set size (gcc: the largest process of "
             "the tree, cc1); redis: the server's VmHWM.")):
        L.append("## %s" % title)
        L.append("")
        L.append(note)
        L.append("")
        L.append("| workload | " + " | ".join(A) + " |")
        L.append("| --- | " + " | ".join("---:" for _ in A) + " |")
        for w in wls:
            L.append("| %s | %s |" % (w["name"], " | ".join(
                cell(summary, w["name"], a, key, fmt) for a in A)))
        L.append("| **geometric mean of the ratios** | %s |" % " | ".join(
            fr(g[a]) for a in A))
        L.append("")
    L.append("Spread (half the range over the rounds), seconds / MiB:")
    L.append("")
    L.append("| workload | " + " | ".join(A) + " |")
    L.append("| --- | " + " | ".join("---:" for _ in A) + " |")
    for w in wls:
        cells = []
        for a in A:
            e = summary.get(w["name"], {}).get(a)
            if not e or "refused" in e:
                cells.append("-")
            else:
                cells.append("±%.3f / ±%s" % (e["time_spread"] or 0, mib(e["peak_spread"] or 0)))
        L.append("| %s | %s |" % (w["name"], " | ".join(cells)))
    L.append("")
    peers = [a for a in A if a != "hakmem"]
    if "hakmem" in A and peers:
        L.append("## hakmem against each peer")
        L.append("")
        L.append("hakmem's median / the peer's median: time, then peak RSS (< 1: hakmem "
                 "is faster / smaller).")
        L.append("")
        L.append("| workload | " + " | ".join("time / %s" % p for p in peers) + " | " +
                 " | ".join("RSS / %s" % p for p in peers) + " |")
        L.append("| --- | " + " | ".join("---:" for _ in peers * 2) + " |")
        for w in wls + [None]:
            if w is None:
                cells = [fr(geomeans(wls, summary, ["hakmem"], k, p)["hakmem"])
                         for k in ("time_s", "peak_kb") for p in peers]
                L.append("| **geometric mean** | %s |" % " | ".join(cells))
                continue
            cells = [fr(ratio(summary, w["name"], "hakmem", k, p))
                     for k in ("time_s", "peak_kb") for p in peers]
            L.append("| %s | %s |" % (w["name"], " | ".join(cells)))
        L.append("")
    if "redis" in summary:
        s = summary["redis"]
        L.append("## redis: memory after the DEL and after FLUSHALL")
        L.append("")
        L.append("Medians, MiB. After the DEL of half the keys and %g s without traffic: "
                 "VmRSS (/proc/PID/status), INFO memory's used_memory_rss and used_memory "
                 "(what redis counts as allocated, through malloc_usable_size); after "
                 "FLUSHALL and %g s more: VmRSS and used_memory_rss. `jemalloc side`: "
                 "allocator_resident from INFO memory, which redis reads through mallctl; "
                 "under glibc, mimalloc and tcmalloc that is libjemalloc's own resident "
                 "memory beside the allocator under test (redis links it and calls its "
                 "mallctl), under hakmem hakmem's resident bytes." % (SETTLE_S, SETTLE_S))
        L.append("")
        L.append("| allocator | peak (VmHWM) | after DEL: VmRSS | used_memory_rss | "
                 "used_memory | after FLUSHALL: VmRSS | used_memory_rss | jemalloc side | "
                 "server CPU s |")
        L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for a in A:
            e = s.get(a)
            if not e or "refused" in e:
                L.append("| %s | REFUSED |" % a)
                continue
            L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                a, mib(e["peak_kb"]), mib(e["del_vmrss_kb"]),
                mib(None if e["del_used_memory_rss"] is None else e["del_used_memory_rss"] / 1024),
                mib(None if e["del_used_memory"] is None else e["del_used_memory"] / 1024),
                mib(e["flush_vmrss_kb"]),
                mib(None if e["flush_used_memory_rss"] is None
                    else e["flush_used_memory_rss"] / 1024),
                mib(None if e["del_allocator_resident"] is None
                    else e["del_allocator_resident"] / 1024),
                "-" if e["server_cpu_s"] is None else "%.2f" % e["server_cpu_s"]))
        L.append("")
    if data.get("callgrind"):
        L += markdown_callgrind(data["callgrind"], A)
    L.append("## Proof of who served each run")
    L.append("")
    L.append("Every run ran with `LD_DEBUG=bindings` (one file per process) and hakmem's "
             "statistics file configured (`HAKMEM_CONF=opt.stats_print=json,"
             "opt.stats_file=DIR/hakmem.%p.json`, for every allocator). A run is refused "
             "when ld.so printed `ERROR: ld.so` (a preload it could not load), when any "
             "object of any process of the tree bound malloc, calloc, realloc or free to "
             "a library other than the one under test (libc.so.6 for glibc; the bindings "
             "an allocator makes itself, and those to an executable's own PLT entry, "
             "aside), when the measured process never bound malloc, when hakmem's "
             "statistics for the measured process are missing or count fewer "
             "allocations than the floor, or when a peer run left hakmem statistics. "
             "redis also checks that the library is in the server's /proc/PID/maps.")
    L.append("")
    L.append("| workload | measured process | hakmem floor | hakmem stats.nmalloc (median) "
             "| processes traced | valid runs per allocator |")
    L.append("| --- | --- | ---: | ---: | ---: | --- |")
    for w in wls:
        s = summary.get(w["name"], {})
        nm = s.get("hakmem", {}).get("nmalloc")
        procs = sorted({r["proof"]["processes"] for r in data["runs"]
                        if r["workload"] == w["name"] and not r["refused"]})
        L.append("| %s | %s | %d | %s | %s | %s |" % (
            w["name"], w.get("measured", "-"), w["floor"], "-" if nm is None else "{:,}".format(int(nm)),
            ",".join(str(p) for p in procs) or "-",
            " ".join("%s %d" % (a, s[a].get("n", 0)) for a in A if a in s)))
    L.append("")
    L.append("## Workloads and commands")
    L.append("")
    L.append("$TMP is a scratch directory, made and removed by the runner. Each "
             "command runs as `/usr/bin/time -o FILE -f '%s' env LD_PRELOAD=LIB "
             "LD_DEBUG=bindings LD_DEBUG_OUTPUT=DIR/ld HAKMEM_CONF=... VARS COMMAND` "
             "(glibc: no LD_PRELOAD), in $TMP/WORKLOAD, with the variables "
             "below; the redis server is started the same way without /usr/bin/time." %
             TIME_FMT)
    L.append("")
    L.append("| workload | N | what it does | command | variables |")
    L.append("| --- | ---: | --- | --- | --- |")
    for w in wls:
        L.append("| %s | {:,} | %s | `%s` | %s |".format(w["n"]) % (
            w["name"], w["what"], " ".join("''" if c == "" else c for c in w["shown"]),
            " ".join("%s=%s" % kv for kv in sorted(w["env"].items()))))
    L.append("")
    if "redis" in [w["name"] for w in wls]:
        rw = [w for w in wls if w["name"] == "redis"][0]
        L.append("redis: `redis-cli -s $TMP/redis/redis.sock --pipe < load.resp` (%s MiB "
                 "of values), then `--pipe < del.resp` (DEL of the even keys), DBSIZE, "
                 "%g s, INFO memory and /proc/PID/status, FLUSHALL, %g s, the same, "
                 "SHUTDOWN NOSAVE. Its glibc run preloads libc.so.6: the binary links "
                 "libjemalloc, which serves it when nothing is preloaded." % (
                     mib(rw.get("value_bytes", 0) / 1024.0), SETTLE_S, SETTLE_S))
        L.append("")
    return "\n".join(L) + "\n"


def svg_plot(data):
    meta, wls, summary = data["meta"], data["workloads"], data["summary"]
    A = meta["allocators"]
    rows_t, rows_r = [], []
    for w in wls:
        s = summary[w["name"]]
        vt, vr = {}, {}
        for a in A:
            e = s.get(a)
            if e is None:
                continue
            if "refused" in e:
                vt[a] = vr[a] = "REFUSED"
                continue
            t = ratio(summary, w["name"], a, "time_s")
            vt[a] = 1.0 / t if t else None
            vr[a] = ratio(summary, w["name"], a, "peak_kb")
        rows_t.append((w["name"], vt))
        rows_r.append((w["name"], vr))
    width = max(760, 90 + 20 + 90 * len(wls))
    y0 = 50
    p1, h1 = R.svg_panel(y0, "Speed relative to mimalloc (mimalloc's time / time; higher "
                         "is better)", rows_t, A, width)
    p2, h2 = R.svg_panel(y0 + h1, "Peak RSS relative to mimalloc (lower is better)", rows_r,
                         A, width)
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="sans-serif">' % (width, y0 + h1 + h2 + 10),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="10" y="20" font-size="13">hakmem bench/programs.py, %s mode, %d rounds, '
           '%s, %s</text>' % (meta["mode"], meta["rounds"], R.svg_escape(meta["date"]),
                              R.svg_escape(meta["cpu"]))]
    lx = 10
    for a in A:
        label = a + (" (baseline, 1x)" if a == BASELINE else "")
        out.append('<rect x="%d" y="30" width="12" height="12" fill="%s"/>' % (
            lx, R.COLORS.get(a, "#000")))
        out.append('<text x="%d" y="41" font-size="12">%s</text>' % (lx + 16, label))
        lx += 30 + 8 * len(label)
    out += p1 + p2 + ["</svg>", ""]
    return "\n".join(out)


def write_reports(data, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    base = os.path.join(out_dir, "programs")
    md = markdown(data)
    R.write_atomic(base + ".json", json.dumps(data, indent=1) + "\n")
    R.write_atomic(base + ".md", md)
    R.write_atomic(base + ".svg", svg_plot(data))
    return base, md


def program_versions(tools):
    out = {}
    for t, args in (("python3", ["--version"]), ("perl", ["-e", "print $^V"]),
                    ("sqlite3", ["--version"]), ("gcc", ["-dumpfullversion"]),
                    ("redis-server", ["--version"]), ("ld.lld", ["--version"]),
                    ("git", ["--version"])):
        if tools.get(t):
            r = R.run_quiet([tools[t]] + args)
            v = (r.stdout or "").strip().splitlines()
            out[t] = v[0][:80] if v else "?"
    return out


# ---------------------------------------------------------------- self-test

def self_test():
    """The bindings parser, the proof rules and the writers on made-up input."""
    failures = []
    hk = "/b/.libs/libhakmem.so"
    mi = R.LIBDIR + "/libmimalloc.so.2"
    libc = "/lib/x86_64-linux-gnu/libc.so.6"

    def trace(pid, main, target, extra=""):
        return "\n".join([
            "     %d:\tbinding file linux-vdso.so.1 [0] to linux-vdso.so.1 [0]: normal "
            "symbol `__vdso_time' [LINUX_2.6]" % pid,
            "     %d:\tbinding file %s [0] to %s [0]: normal symbol `malloc' [GLIBC_2.2.5]"
            % (pid, libc, target),
            "     %d:\tbinding file %s [0] to %s [0]: normal symbol `free' [GLIBC_2.2.5]"
            % (pid, main, main),                       # canonical PLT entry: ignored
            "     %d:\tbinding file %s [0] to %s [0]: normal symbol `malloc' [GLIBC_2.2.5]"
            % (pid, main, target),
            "     %d:\tbinding file %s [0] to %s [0]: normal symbol `strlen'" % (pid, main, libc),
        ] + ([extra] if extra else [])) + "\n"

    A = ["hakmem", "glibc", "mimalloc"]
    orders = [R.run_order(A, rnd, wi) for rnd in (1, 2, 3) for wi in (0, 1)]
    if orders[0] != A or orders[1] != ["glibc", "mimalloc", "hakmem"] or \
            any(sorted(o) != sorted(A) for o in orders) or \
            sorted(o[0] for o in orders) != sorted(A + A):
        failures.append("run_order: %r" % orders)

    b = parse_bindings(trace(7, "/usr/bin/perl", hk))
    if b["mains"] != ["/usr/bin/perl"] or len(b["malloc"]) != 3:
        failures.append("parse_bindings: %r" % b)
    stats_ok = {7: {"stats": {"nmalloc": 500}}}
    cases = [
        # (allocator, lib, bindings, stats, stderr, refused?)
        ("hakmem", hk, {7: parse_bindings(trace(7, "perl", hk))}, stats_ok, "", False),
        ("hakmem", hk, {7: parse_bindings(trace(7, "perl", hk))}, {7: {"stats": {"nmalloc": 5}}},
         "", True),                                                    # below the floor
        ("hakmem", hk, {7: parse_bindings(trace(7, "perl", hk))}, {}, "", True),  # no stats
        ("hakmem", hk, {7: parse_bindings(trace(7, "perl", libc))}, stats_ok, "", True),
        ("hakmem", hk, {}, stats_ok, "", True),                        # no trace
        ("hakmem", hk, {7: parse_bindings(trace(7, "perl", hk))}, stats_ok,
         "ERROR: ld.so: object '%s' from LD_PRELOAD cannot be preloaded" % hk, True),
        ("mimalloc", mi, {7: parse_bindings(trace(7, "perl", mi))}, {}, "", False),
        ("mimalloc", mi, {7: parse_bindings(trace(7, "perl", mi))}, stats_ok, "", True),
        ("mimalloc", mi, {7: parse_bindings(trace(7, "perl", libc))}, {}, "", True),
        ("glibc", None, {7: parse_bindings(trace(7, "perl", libc))}, {}, "", False),
        ("glibc", None, {7: parse_bindings(trace(7, "perl", mi))}, {}, "", True),
        ("mimalloc", mi, {7: parse_bindings(trace(7, "python3", mi))}, {}, "", True),  # not perl
        # a second process of the tree bound malloc elsewhere
        ("mimalloc", mi, {7: parse_bindings(trace(7, "perl", mi)),
                          8: parse_bindings(trace(8, "as", libc))}, {}, "", True),
        # the allocator's own lookup of libc's malloc is its business
        ("mimalloc", mi, {7: parse_bindings(trace(7, "perl", mi, "     7:\tbinding file %s "
                                                  "[0] to %s [0]: normal symbol `malloc'" % (
                                                      mi, libc)))}, {}, "", False),
    ]
    for i, (a, lib, bnd, st, err, want) in enumerate(cases):
        got, _ = check_proof(a, lib, r"perl$", 100, bnd, st, err)
        if (got is not None) != want:
            failures.append("case %d (%s): refused=%r" % (i, a, got))
    # the analysis and the writers
    wls = [{"name": n, "program": n, "what": "w", "n": 10, "main": "x$", "floor": 1,
            "shown": ["x"], "env": {}} for n in ("perl", "redis")]
    runs = []
    for rnd in (1, 2):
        for a, t, kb in (("hakmem", 0.9, 900), ("glibc", 1.2, 1000), ("mimalloc", 1.0, 1000)):
            for wn in ("perl", "redis"):
                runs.append({"round": rnd, "workload": wn, "allocator": a, "wall_s": t * rnd,
                             "peak_kb": kb, "refused": None, "output": "same",
                             "proof": {"nmalloc": 50 if a == "hakmem" else None,
                                       "processes": 1},
                             "redis": {k: 1024 for k in REDIS_KEYS}})
    runs[0]["output"] = "odd"
    refuse_odd_outputs(runs)
    if not runs[0]["refused"] or any(r["refused"] for r in runs[1:]):
        failures.append("refuse_odd_outputs")
    A = ["hakmem", "glibc", "mimalloc"]
    summary = summarize(wls, runs, A)
    if summary["perl"]["hakmem"]["time_s"] != 1.8 or summary["redis"]["hakmem"]["n"] != 2:
        failures.append("summarize: %r" % summary["perl"]["hakmem"])
    tg = targets(wls, summary)
    if tg["rows"][0]["status"] != "PASS" or abs(tg["rows"][0]["geomean"] - 0.9) > 1e-9:
        failures.append("targets: %r" % tg)
    meta = {"date": "d", "host": "h", "cpu": "c", "cores": 2, "kernel": "k", "python": "3",
            "commit": "none", "libs": {"hakmem": hk, "glibc": None, "mimalloc": mi},
            "allocators": A, "program_versions": {}, "mode": "full", "rounds": 2,
            "loadavg_start": 0.1, "loadavg_end": 0.2, "command": "c", "cwd": "/"}
    data = {"meta": meta, "workloads": wls, "summary": summary, "targets": tg, "runs": runs}
    md, svg = markdown(data), svg_plot(data)
    for what, good in [("time cell", "| perl | 1.800 (1.20x) | 1.800 (1.20x) | 1.500 (1.00x) |" in md),
                       ("rss geomean", "| **geometric mean of the ratios** | 0.90 | 1.00 | 1.00 |"
                        in md),
                       ("target", "| peak RSS | 0.90 | <= 0.95 | PASS |" in md),
                       ("refusal listed", "round 1, perl, hakmem: output odd" in md),
                       ("svg closes", svg.rstrip().endswith("</svg>"))]:
        if not good:
            failures.append("report: " + what)
    # callgrind: the parser (self costs; the cost line after calls= is not
    # the caller's), the proof rules, the table
    cgfile = os.path.join(tempfile.mkdtemp(prefix="hakmem-selftest."), "callgrind.out.41")
    with open(cgfile, "w") as f:
        f.write("# callgrind format\nversion: 1\npid: 41\ncmd:  /usr/bin/perl x.pl 10\n"
                "events: Ir\nsummary: 1000\n\nob=(1) /usr/bin/perl\nfl=(1) ???\n"
                "fn=(1) main\n0 100\n+2 300\ncob=(2) %s\ncfn=(2) malloc\ncalls=3 0\n"
                "0 450\nob=(2)\nfn=(2)\n0 450\nob=(3) %s\nfn=(3) strlen\n* 150\n"
                "ob=(4) ???\nfn=(4) free\n0 20\nfn=(5) 0x0000000004b13750\n0 5\n"
                "totals: 1000\n" % (mi, libc))
    cgp = parse_callgrind(cgfile)
    shutil.rmtree(os.path.dirname(cgfile), ignore_errors=True)
    if (cgp["pid"], cgp["ir"], cgp["cmd"]) != (41, 1000, "/usr/bin/perl x.pl 10") or \
            cgp["self_ir"] != {"/usr/bin/perl": 400, mi: 450, libc: 150, "???": 25} or \
            cgp["unknown_fn_ir"] != {"free": 20, "0x0000000004b13750": 5}:
        failures.append("parse_callgrind: %r" % cgp)
    cgp["cmd"] = "perl"
    if check_callgrind("mimalloc", mi, r"perl$", 1, [cgp], {})[1]["lib_ir"] != 470:
        failures.append("check_callgrind: an unplaced free is not the allocator's")

    def proc(pid, cmd, **obs):
        return {"pid": pid, "cmd": cmd, "ir": sum(obs.values()) or 1,
                "self_ir": {{"mi": mi, "hk": hk, "libc": libc, "je": R.LIBDIR +
                             "/libjemalloc.so.2"}.get(k, k): v for k, v in obs.items()}}
    st_hk = {7: {"stats": {"nmalloc": 500}}}
    cg_cases = [
        ("mimalloc", mi, [proc(7, "/usr/bin/perl x", mi=5, libc=9)], {}, False),
        ("mimalloc", mi, [proc(7, "/usr/bin/perl x", libc=9)], {}, True),     # mimalloc idle
        ("mimalloc", mi, [proc(7, "/usr/bin/perl x", mi=5),
                          proc(8, "/usr/bin/as", je=3)], {}, True),           # another allocator
        ("mimalloc", mi, [proc(7, "python3 x", mi=5)], {}, True),             # not perl
        ("mimalloc", mi, [proc(7, "/usr/bin/perl x", mi=5)], st_hk, True),    # hakmem stats
        ("hakmem", hk, [proc(7, "/usr/bin/perl x", hk=5)], st_hk, False),
        ("hakmem", hk, [proc(7, "/usr/bin/perl x", hk=5)], {}, True),         # no stats
        ("hakmem", hk, [proc(7, "/usr/bin/perl x", hk=5)],
         {7: {"stats": {"nmalloc": 50}}}, True),                              # below the floor
        ("glibc", None, [proc(7, "/usr/bin/perl x", libc=9)], {}, False),
        ("glibc", None, [proc(7, "/usr/bin/perl x", libc=9, mi=1)], {}, True),
        ("glibc", None, [], {}, True),                                        # no output
    ]
    for i, (a, lib, procs, st, want) in enumerate(cg_cases):
        got, _ = check_callgrind(a, lib, r"perl$", 100, procs, st)
        if (got is not None) != want:
            failures.append("callgrind case %d (%s): refused=%r" % (i, a, got))
    cg_runs = [{"workload": "perl", "allocator": a, "refused": None, "ir": ir, "output": "o",
                "processes": [{}], "proof": {"lib_ir": lib_ir, "nmalloc": None}}
               for a, ir, lib_ir in (("hakmem", 900000000, 90000000),
                                     ("glibc", 1200000000, None),
                                     ("mimalloc", 1000000000, 50000000))]
    cg = {"workloads": ["perl"], "sizes": {"perl": 25000}, "runs": cg_runs,
          "skipped": {"redis": "skipped"}, "summary": callgrind_summary(["perl"], cg_runs, A)}
    cmd_md = "\n".join(markdown_callgrind(cg, A))
    for what, good in [("cg row", "| perl | 25,000 | 900.0 M (0.90x) | 1.200 G (1.20x) | "
                        "1.000 G (1.00x) |" in cmd_md),
                       ("cg geomean", "| **geometric mean of the ratios** | | 0.90 | 1.20 | 1.00 |"
                        in cmd_md),
                       ("cg lib share", "| perl | 90.0 M (10.0%) | 50.0 M (5.0%) |" in cmd_md),
                       ("cg skipped", "- redis: skipped" in cmd_md)]:
        if not good:
            failures.append("callgrind report: " + what)
    sh = shown_command(["/t/x/ld", "/t/x/m0.o", "/t/x/m1.o", "/t/x/m2.o", "-lc", "/t/m5.o"], "/t")
    if sh != ["$TMP/x/ld", "$TMP/x/m{0..2}.o", "-lc", "$TMP/m5.o"]:
        failures.append("shown_command: %r" % sh)
    return R.self_test_verdict("programs", failures)


# ---------------------------------------------------------------- main

def main(argv):
    ap = R.runner_parser(__doc__, "programs.{json,md,svg}", ".libs/libhakmem.so")
    ap.add_argument("--rounds", type=int, help="rounds (default 3; --quick: 1)")
    ap.add_argument("--quick", action="store_true",
                    help="1 round (unless --rounds), about a quarter of the sizes")
    ap.add_argument("--only", help="comma-separated workload names or prefixes (%s)" % ",".join(
        SIZES))
    ap.add_argument("--allocators", default=",".join(R.ALLOCATOR_ORDER),
                    help="comma-separated subset of %s" % ",".join(R.ALLOCATOR_ORDER))
    ap.add_argument("--hakmem-lib", help="the hakmem library to preload "
                    "(default BUILDDIR/.libs/libhakmem.so)")
    ap.add_argument("--hakmem-label", help="what that library was built from, shown in the "
                    "report instead of the source tree's commit (e.g. 'abc1234, clean "
                    "build')")
    ap.add_argument("--timeout", type=int, default=300, help="seconds per run (default 300)")
    ap.add_argument("--callgrind", action="store_true",
                    help="after the timed rounds, each workload (quick size, not redis) once "
                    "per allocator under valgrind --tool=callgrind --trace-children=yes: "
                    "instructions of the whole process tree")
    ap.add_argument("--callgrind-timeout", type=int, default=1800,
                    help="seconds per callgrind run (default 1800)")
    ap.add_argument("--no-install", action="store_true", help="never run apt-get")
    ap.add_argument("--list", action="store_true", help="print the workloads and exit")
    ap.add_argument("--render", metavar="JSON", help="rewrite the .md and .svg beside a "
                    "results JSON from its runs, without running anything")
    ap.add_argument("--self-test", action="store_true",
                    help="check the proof rules and the writers on made-up runs")
    args = ap.parse_args(argv)
    if args.self_test:
        return self_test()
    if args.render:
        with open(args.render) as f:
            data = json.load(f)
        # the descriptions are the code's, the numbers the JSON's
        what = {w["name"]: w["what"] for w in workloads(data["meta"]["mode"] == "quick", {})}
        for w in data["workloads"]:
            w["what"] = what.get(w["name"], w["what"])
        data["summary"] = summarize(data["workloads"], data["runs"], data["meta"]["allocators"])
        data["targets"] = targets(data["workloads"], data["summary"])
        if data.get("callgrind"):
            cg = data["callgrind"]
            cg["summary"] = callgrind_summary(cg["workloads"], cg["runs"],
                                              data["meta"]["allocators"])
        base, _ = write_reports(data, os.path.dirname(os.path.abspath(args.render)))
        log("programs: rewrote %s.{json,md,svg}" % base)
        return 0
    args.allocators = [a for a in args.allocators.split(",") if a]
    for a in args.allocators:
        if a not in R.ALLOCATOR_ORDER:
            ap.error("unknown allocator %s" % a)
    rounds = args.rounds or (1 if args.quick else 3)
    if rounds < 1:
        ap.error("--rounds must be at least 1")
    args.builddir = os.path.abspath(args.builddir)
    if args.hakmem_lib is None:
        args.hakmem_lib = os.path.join(args.builddir, ".libs", "libhakmem.so")

    tools = find_tools()
    wls = workloads(args.quick, tools)
    if args.only:
        keys = [k for k in args.only.split(",") if k]
        wls = [w for w in wls if any(w["name"] == k or w["name"].startswith(k) for k in keys)]
        if not wls:
            ap.error("--only %s matches no workload" % args.only)
    if args.list:
        for w in wls:
            print("%-15s N=%-7d %s%s" % (w["name"], w["n"], w["what"],
                                         "  [missing: %s]" % " ".join(w["missing"])
                                         if w["missing"] else ""))
        return 0
    left_out = {}
    for w in [w for w in wls if w["missing"]]:
        log("programs: %s is left out: %s not installed" % (w["name"], " ".join(w["missing"])))
        left_out[w["name"]] = "not installed: %s" % " ".join(w["missing"])
    wls = [w for w in wls if not w["missing"]]
    if not wls:
        log("programs: none of the programs is installed")
        return 1
    if tools["time"] is None:
        if not args.no_install:
            R.install_packages(["time"])
        tools["time"] = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
        if tools["time"] is None:
            log("programs: /usr/bin/time (Debian package time) is needed for the peak RSS")
            return 1
    setup = argparse.Namespace(allocators=args.allocators, no_install=args.no_install,
                               no_callgrind=not args.callgrind, no_strace=True,
                               hakmem_lib=args.hakmem_lib)
    libs = R.setup_allocators(setup)
    if "hakmem" in libs and not os.path.exists(libs["hakmem"]):
        log("programs: %s does not exist; every hakmem run will be refused" % libs["hakmem"])
    allocators = [a for a in R.ALLOCATOR_ORDER if a in libs]
    if BASELINE not in allocators:
        log("programs: mimalloc is not available; the ratios need it as the baseline")
        return 1

    meta = R.machine_info(SRCDIR, 1, "quick" if args.quick else "full", rounds, libs)
    if args.hakmem_label:
        meta["commit"] = args.hakmem_label
    meta.update(allocators=allocators, program_versions=program_versions(tools),
                command=shlex.join(["python3", os.path.relpath(os.path.abspath(__file__))] + argv),
                cwd=os.getcwd(), tools=tools, settle_s=SETTLE_S, left_out=left_out)
    tmp = tempfile.mkdtemp(prefix="hakmem-programs.")
    runs = []
    cg = None
    t_start = time.monotonic()
    try:
        log("programs: writing the inputs in %s" % tmp)
        for w in list(wls):
            try:
                prepare(w, tmp, tools)
            except (RuntimeError, OSError) as e:
                log("programs: %s is left out: its preparation failed: %s" % (w["name"], e))
                meta["left_out"][w["name"]] = "preparation failed: %s" % e
                wls.remove(w)
        if not wls:
            log("programs: no workload could be prepared")
            return 1
        log("programs: %s mode, %d rounds, %d workloads x %d allocators (%s)" % (
            meta["mode"], rounds, len(wls), len(allocators), " ".join(allocators)))
        for rnd in range(1, rounds + 1):
            for wi, w in enumerate(wls):
                cells = []
                for a in R.run_order(allocators, rnd, wi):
                    fn = run_redis if w["name"] == "redis" else run_program
                    # The previous run's files (a database, an object file,
                    # a 380 MB link) are written back before this one, not
                    # during it.
                    os.sync()
                    rec = fn(w, a, libs[a], tmp, tools, args.timeout)
                    rec.update(round=rnd, workload=w["name"])
                    runs.append(rec)
                    if rec["refused"]:
                        cells.append("%s REFUSED" % a)
                        log("programs: %s / %s REFUSED: %s" % (w["name"], a, rec["refused"]))
                    else:
                        cells.append("%s %.2fs %sM" % (a, rec["wall_s"], mib(rec["peak_kb"])))
                log("round %d/%d %-15s %s" % (rnd, rounds, w["name"], "  ".join(cells)))
        if args.callgrind:
            tools["valgrind"] = shutil.which("valgrind")
            if tools["valgrind"]:
                log("programs: callgrind: each workload once per allocator (quick sizes)")
                t_cg = time.monotonic()
                cg = count_instructions(wls, libs, allocators, tmp, tools,
                                        args.callgrind_timeout, args.quick)
                cg["elapsed_s"] = round(time.monotonic() - t_cg, 1)
            else:
                log("programs: --callgrind: valgrind (Debian package valgrind) is not installed")
                cg = {"runs": [], "workloads": [], "sizes": {}, "summary": {},
                      "skipped": {"all": "valgrind is not installed"}}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    refuse_odd_outputs(runs)
    meta["elapsed_s"] = round(time.monotonic() - t_start, 1)
    meta["loadavg_end"] = R.loadavg()
    for w in wls:    # what the JSON keeps of a workload: no scratch paths
        for k in ("cmd", "callgrind_cmd", "stdin", "output_file", "output_pack", "remove",
                  "fresh_dirs", "dir", "missing", "needs"):
            w.pop(k, None)
        w["env"] = {k: v.replace(tmp, "$TMP") for k, v in w["env"].items()}
    summary = summarize(wls, runs, allocators)
    data = {"meta": meta, "workloads": wls, "summary": summary,
            "targets": targets(wls, summary), "runs": runs}
    if cg is not None:
        data["callgrind"] = cg
    base, md = write_reports(data, args.out)
    print(md)
    log("programs: %.0f s; wrote %s.{json,md,svg}" % (meta["elapsed_s"], base))
    refused = any(r["refused"] for r in runs + (cg["runs"] if cg else []))
    return 2 if refused else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
