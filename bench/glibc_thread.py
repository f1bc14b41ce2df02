#!/usr/bin/env python3
"""glibc_thread.py - glibc's own malloc benchmark, bench-malloc-thread, under hakmem and the peers.

glibc's benchtests/bench-malloc-thread.c (N threads, each freeing and
allocating random slots of a 1024-slot working set, sizes 4 B to 32 KiB with
an inverse-square distribution, until an alarm fires) is taken from Debian's
glibc-source package (/usr/src/glibc/glibc-*.tar.xz; apt-get install -y
glibc-source) at run time: the benchmark and the files it includes are
extracted into a temporary directory and built there with gcc against the
installed glibc. Nothing of glibc's is kept in this repository.

What had to change to build it outside glibc's tree, all in the temporary
directory and shown in the report:
  - hp-timing.h (glibc-internal, included by bench-timing.h): a shim of ours,
    HP_TIMING_NOW from clock_gettime(CLOCK_MONOTONIC) in ns, DIFF, ACCUM_NT;
  - the one line `#define BENCHMARK_DURATION 10` becomes `#ifndef`-guarded so
    that -DBENCHMARK_DURATION=SECONDS sets it (alarm() takes whole seconds).
Built with -O2 -fno-builtin-malloc -fno-builtin-free; malloc and free must be
undefined dynamic symbols of the binary (nm -D), so every call goes through
the preloaded allocator.

Each run goes through a small launcher of ours (maxrss_exec, also written
and built in the temporary directory) that forks, sets LD_PRELOAD and
HAKMEM_CONF in the child only, execs the benchmark and reports the child's
ru_maxrss from wait4: Linux carries the RSS peak of a forked copy of the
parent across exec, so os.wait4 on a child forked straight from Python
reports at least Python's own RSS (about 14-21 MiB), which would hide the
benchmark's few MiB. Forked from the launcher, the benchmark's own
getrusage max_rss is also its real peak.

Each round runs every thread count and, for each, every allocator once, in the
same order every round: hakmem (LD_PRELOAD of BUILDDIR/.libs/libhakmem.so),
hakmem with each --hakmem-confs entry (rows hakmem[CONF]), glibc (nothing
preloaded), jemalloc, mimalloc, tcmalloc (their libraries in
/usr/lib/x86_64-linux-gnu; missing ones are installed as bench/run.py does,
or left out). A run is refused (left out of every number, exit status 2) when:
  - it did not exit 0, or its stdout is not the benchmark's JSON;
  - its stderr holds "ERROR: ld.so" (the preload failed) or, for hakmem,
    "HAKMEM_CONF: ... skipped" (a conf entry was rejected);
  - /proc/PID/maps, read while it runs, lacks the preloaded library, or shows
    another allocator's (glibc: none of them);
  - hakmem: HAKMEM_CONF has opt.stats_print=json and opt.stats_file=TMP/
    hakmem.%p.json; the file is missing, does not parse, or its stats.nmalloc
    is below 10000 or below 99 % of the benchmark's iterations.

Figures per thread count and allocator: the median over the rounds of
iterations per second (all threads' iterations over the benchmark's wall
time: iterations / (duration / threads); glibc's `duration` sums the threads'
times), glibc's own time_per_iteration (thread-ns per iteration), the peak
RSS when the timed loop ends (the benchmark's getrusage max_rss, KiB, shown
in MiB) and at exit (the launcher's wait4 ru_maxrss: for hakmem it includes
the at-exit stats print of the proof, about 0.5-1 MiB), with ratios to
mimalloc's and glibc's. Writes OUT/glibc_thread.json (every run, the
commands, the machine) and OUT/glibc_thread.md. --hakmem-lib and
--hakmem-label run another hakmem build (e.g. a clean build of HEAD while
build/ is being rebuilt). Run it from the build directory:

    python3 ../bench/glibc_thread.py [--threads 1,2,4] [--seconds S] [--rounds N]
        [--allocators hakmem,glibc,jemalloc,mimalloc,tcmalloc] [--out DIR]

Standard library only (plus tar, gcc and nm); the allocator set-up, package
installs and machine information are bench/run.py's (imported, not run).
Exit status: 0, 2 when a run was refused, 1 on a setup error.
"""

import argparse
import glob
import json
import os
import re
import shlex
import shutil
import signal
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

NAME = "glibc_thread"
TARBALL_GLOB = "/usr/src/glibc/glibc-*.tar.xz"
SOURCE_PACKAGE = "glibc-source"
BENCH_SRC = "benchtests/bench-malloc-thread.c"
# what bench-malloc-thread.c needs from the tree; every "..." include of these
# files must be among them (checked after extraction)
BENCH_FILES = [BENCH_SRC, "benchtests/bench-timing.h", "benchtests/json-lib.h",
               "benchtests/json-lib.c"]
# glibc-internal headers included with <...> that we replace
SHIMS = {"hp-timing.h": """\
/* hp-timing.h - written by hakmem's bench/glibc_thread.py for glibc's
   benchtests/bench-timing.h outside glibc's tree (glibc's own one is
   internal). Timing values are nanoseconds of CLOCK_MONOTONIC, as glibc's
   sysdeps/generic/hp-timing.h gives under USE_CLOCK_GETTIME.  */
#ifndef GLIBC_THREAD_HP_TIMING_SHIM_H
#define GLIBC_THREAD_HP_TIMING_SHIM_H 1
#include <stdint.h>
#include <time.h>

typedef uint64_t hp_timing_t;

#define HP_TIMING_INLINE (0)
#define HP_TIMING_NOW(var) \\
  ({ struct timespec tv_; clock_gettime (CLOCK_MONOTONIC, &tv_); \\
     (var) = (uint64_t) tv_.tv_nsec + UINT64_C (1000000000) * (uint64_t) tv_.tv_sec; })
#define HP_TIMING_DIFF(diff, start, end) ((diff) = (end) - (start))
#define HP_TIMING_ACCUM_NT(sum, diff) ((sum) += (diff))
#endif
"""}
# A launcher of ours, built beside the benchmark. Linux keeps across exec the
# RSS peak of the copy a fork made of its parent (exec_mmap() folds the old
# mm's hiwater mark into the process's maxrss), so the ru_maxrss os.wait4 gives
# for a child forked straight from Python is at least Python's own RSS (14 MiB
# and more). The launcher is small: the benchmark, forked from it, reports its
# own peak, plus the launcher's few hundred KiB.
LAUNCHER_C = r"""/* maxrss_exec.c - written by hakmem's bench/glibc_thread.py.
   usage: maxrss_exec INFO_FILE [NAME=VALUE ...] -- PROGRAM [ARG ...]
   Forks, sets NAME=VALUE in the child's environment only, execs PROGRAM
   there and waits for it with wait4. INFO_FILE gets "pid N" once the child
   exists, then "status N" (the exit status, 128 + the signal if it was
   killed), "maxrss_kb N" (the child's ru_maxrss) and "cpu_us N" (its user
   plus system time). Exits with that status. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int sep = 2;
	while (sep < argc && strcmp(argv[sep], "--") != 0)
		sep++;
	if (argc < 4 || sep + 1 >= argc) {
		fprintf(stderr, "usage: %s INFO_FILE [NAME=VALUE ...] -- PROGRAM [ARG ...]\n",
			argv[0]);
		return 127;
	}
	FILE *info = fopen(argv[1], "w");
	if (info == NULL) {
		perror(argv[1]);
		return 127;
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return 127;
	}
	if (pid == 0) {
		for (int i = 2; i < sep; i++)
			if (putenv(argv[i]) != 0)
				_exit(127);
		execv(argv[sep + 1], argv + sep + 1);
		perror(argv[sep + 1]);
		_exit(127);
	}
	fprintf(info, "pid %d\n", (int)pid);
	fflush(info);
	int status;
	struct rusage ru;
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			perror("wait4");
			return 127;
		}
	}
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	long long cpu_us = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000LL +
			   ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
	fprintf(info, "status %d\nmaxrss_kb %ld\ncpu_us %lld\n", code, ru.ru_maxrss, cpu_us);
	fclose(info);
	return code;
}
"""
DURATION_RE = re.compile(r"^#define[ \t]+BENCHMARK_DURATION[ \t]+(\d+)[ \t]*$", re.M)
CFLAGS = ["-O2", "-pthread", "-D_ISOMAC", "-fno-builtin-malloc", "-fno-builtin-free"]

BASELINES = ("mimalloc", "glibc")
NMALLOC_FLOOR = 10000
NMALLOC_SHARE = 0.99           # of the benchmark's iterations (each one malloc)
MAPS_DELAY_S = 0.3             # when /proc/PID/maps is read
FULL_CORES = 0.9               # a run "had the cores" above this share of min(threads, nproc)
DEFAULT_HAKMEM_CONFS = "tiny.cache_bytes=8192;tiny.cache_bytes=16384"
# file names that identify an allocator's library in /proc/PID/maps
ALLOCATOR_FILES = {"hakmem": "libhakmem.so", "jemalloc": "libjemalloc.so",
                   "mimalloc": "libmimalloc.so", "tcmalloc": "libtcmalloc"}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run_capture(cmd, **kw):
    """(status, combined output) of a command; 127 when it cannot start."""
    r = R.run_quiet(cmd, **kw)
    return r.returncode, r.stdout or ""


# ---------------------------------------------------------------- the benchmark's build

def find_tarball(no_install):
    """The newest /usr/src/glibc/glibc-*.tar.xz, installing glibc-source when
    allowed; None (with the command to type) when there is none."""
    def newest():
        def key(p):
            m = re.search(r"glibc-([\d.]+)\.tar\.xz$", p)
            return [int(x) for x in m.group(1).split(".") if x] if m else []
        found = sorted(glob.glob(TARBALL_GLOB), key=key)
        return found[-1] if found else None

    path = newest()
    if path is None and not no_install:
        R.install_packages([SOURCE_PACKAGE])
        path = newest()
    if path is None:
        log("%s: no %s (Debian package %s); install it with\n"
            "%s:     apt-get install -y %s" % (NAME, TARBALL_GLOB, SOURCE_PACKAGE, NAME,
                                               SOURCE_PACKAGE))
    return path


def quoted_includes(text):
    return re.findall(r'^[ \t]*#[ \t]*include[ \t]+"([^"]+)"', text, re.M)


def patch_duration(text):
    """(patched text, glibc's duration) with the BENCHMARK_DURATION define
    guarded by #ifndef; ValueError unless it is there exactly once."""
    found = DURATION_RE.findall(text)
    if len(found) != 1:
        raise ValueError("%s: expected one '#define BENCHMARK_DURATION N' line, found %d"
                         % (BENCH_SRC, len(found)))
    patched = DURATION_RE.sub(lambda m: "#ifndef BENCHMARK_DURATION\n%s\n#endif" % m.group(0),
                              text)
    return patched, int(found[0])


def build_benchmark(tarball, tmp, seconds):
    """Extracts, shims, patches and builds bench-malloc-thread in TMP.

    Returns a dict: binary, commands, the patch and the shims; raises
    RuntimeError with the reason when a step fails."""
    top = os.path.basename(tarball)[:-len(".tar.xz")]
    members = [top + "/" + f for f in BENCH_FILES]
    extract = ["tar", "-xJf", tarball, "-C", tmp] + members
    rc, out = run_capture(extract)
    if rc != 0:
        raise RuntimeError("%s failed (%s): %s" % (" ".join(extract), rc, out.strip()[-500:]))
    bdir = os.path.join(tmp, top, "benchtests")
    shim_dir = os.path.join(tmp, "shim")
    os.makedirs(shim_dir)
    for name, text in SHIMS.items():
        with open(os.path.join(shim_dir, name), "w") as f:
            f.write(text)
    for f in BENCH_FILES:
        with open(os.path.join(tmp, top, f)) as fh:
            for inc in quoted_includes(fh.read()):
                if not os.path.exists(os.path.join(bdir, inc)):
                    raise RuntimeError("%s includes \"%s\", which is not extracted" % (f, inc))
    src = os.path.join(tmp, top, BENCH_SRC)
    with open(src) as f:
        patched, glibc_duration = patch_duration(f.read())
    with open(src, "w") as f:
        f.write(patched)
    binary = os.path.join(tmp, "bench-malloc-thread")
    cc = os.environ.get("CC", "gcc")
    compile_cmd = ([cc] + CFLAGS + ["-DBENCHMARK_DURATION=%d" % seconds, "-I", shim_dir, "-I",
                   bdir, "-o", binary, src, os.path.join(bdir, "json-lib.c"), "-lm"])
    rc, out = run_capture(compile_cmd)
    if rc != 0:
        raise RuntimeError("the build failed:\n%s\n%s" % (" ".join(compile_cmd), out[-3000:]))
    launcher = os.path.join(tmp, "maxrss_exec")
    with open(launcher + ".c", "w") as f:
        f.write(LAUNCHER_C)
    launcher_cmd = [cc, "-O2", "-Wall", "-o", launcher, launcher + ".c"]
    rc, lout = run_capture(launcher_cmd)
    if rc != 0:
        raise RuntimeError("the launcher's build failed:\n%s" % lout[-2000:])
    nm_cmd = ["nm", "-D", "--undefined-only", binary]
    rc, syms = run_capture(nm_cmd)
    undefined = {l.split()[-1].split("@")[0] for l in syms.splitlines() if l.strip()}
    if rc != 0 or not {"malloc", "free"} <= undefined:
        raise RuntimeError("%s: malloc and free are not both undefined dynamic symbols "
                           "(%s): the preload would not see every call" % (binary, rc))
    return {"binary": binary, "launcher": launcher, "launcher_command": launcher_cmd,
            "tmp": tmp, "tarball": tarball, "source_dir": top, "members": members,
            "extract_command": extract, "compile_command": compile_cmd,
            "compiler_warnings": out.strip(), "glibc_duration_s": glibc_duration,
            "duration_s": seconds, "shims": sorted(SHIMS),
            "patch": "%s: '#define BENCHMARK_DURATION %d' wrapped in "
                     "#ifndef BENCHMARK_DURATION ... #endif" % (BENCH_SRC, glibc_duration)}


# ---------------------------------------------------------------- one run

def parse_output(text):
    """The benchmark's figures (functions.malloc."") as a dict, or None."""
    try:
        doc = json.loads(text)
        f = doc["functions"]["malloc"][""]
        res = {k: float(f[k]) for k in ("duration", "iterations", "time_per_iteration",
                                        "max_rss", "threads")}
        res["timing_type"] = doc.get("timing_type")
    except (ValueError, KeyError, TypeError):
        return None
    if res["duration"] <= 0 or res["iterations"] <= 0 or res["threads"] <= 0:
        return None
    # all threads' iterations per second of the benchmark's wall time
    res["iters_per_s"] = res["iterations"] / (res["duration"] / res["threads"] / 1e9)
    return res


def add_cpu_figures(res, cpu_s):
    """Iterations per CPU-second of the whole process (user + system, start-up
    and exit included) and the cores it kept busy during the timed loop: less
    than min(threads, nproc) when something else had the CPUs."""
    res["iters_per_cpu_s"] = res["iterations"] / cpu_s
    res["cores_used"] = cpu_s / (res["duration"] / res["threads"] / 1e9)


def mapped_files(text):
    return {line.split(None, 5)[5].strip() for line in text.splitlines()
            if len(line.split(None, 5)) == 6}


def check_maps(files, allocator, lib_path):
    """None when the mappings show the right allocator, else the reason."""
    if files is None:
        return "/proc/PID/maps could not be read while it ran"
    kind = allocator.split("[")[0]
    if lib_path is not None and os.path.realpath(lib_path) not in files \
            and lib_path not in files:
        return "%s is not mapped: the preload did not happen" % lib_path
    for other, stem in ALLOCATOR_FILES.items():
        if other != kind and any(stem in os.path.basename(p) for p in files):
            return "%s's library is mapped too" % other
    return None


def check_run(rec, allocator, lib_path, stats):
    """The reason to refuse a run, or None: see the header."""
    err = rec["stderr"]
    if rec["rc"] != 0:
        return "exit status %s: %s" % (rec["rc"], err.strip()[-300:])
    if "ERROR: ld.so" in err:
        return "the preload failed: %s" % err.strip()[-300:]
    res = rec["result"]
    if res is None:
        return "stdout is not the benchmark's JSON"
    if rec.get("maxrss_kb") is None or rec.get("cpu_s") is None:
        return "the launcher reported no ru_maxrss or CPU time"
    if int(res["threads"]) != rec["threads"]:
        return "the benchmark ran %d threads, not %d" % (res["threads"], rec["threads"])
    reason = check_maps(rec.get("maps"), allocator, lib_path)
    if reason:
        return reason
    if not allocator.startswith("hakmem"):
        return None
    if re.search(r"HAKMEM_CONF: .*skipped", err):
        return "hakmem rejected a conf entry: %s" % err.strip()[-300:]
    if stats is None:
        return "hakmem's stats file %s is missing or does not parse" % rec["stats_file"]
    nm = stats.get("stats", {}).get("nmalloc")
    if not isinstance(nm, int) or nm < NMALLOC_FLOOR:
        return "stats.nmalloc=%r in %s: below %d, hakmem did not serve the run" % (
            nm, rec["stats_file"], NMALLOC_FLOOR)
    if nm < NMALLOC_SHARE * res["iterations"]:
        return "stats.nmalloc=%d is below %d %% of the %.0f iterations" % (
            nm, NMALLOC_SHARE * 100, res["iterations"])
    return None


def read_stats(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def run_env(lib_path, conf):
    env = R.make_env(lib_path)
    env.pop("HAKMEM_CONF", None)
    if conf is not None:
        env["HAKMEM_CONF"] = conf
    return env


def shell_command(cmd, lib_path, conf):
    words = []
    if lib_path is not None:
        words.append("LD_PRELOAD=" + shlex.quote(lib_path))
    if conf is not None:
        words.append("HAKMEM_CONF=" + shlex.quote(conf))
    return " ".join(words + [shlex.quote(c) for c in cmd])


def read_info(path):
    """The launcher's INFO_FILE as {"pid", "status", "maxrss_kb", "cpu_us": N} (what is
    there)."""
    info = {}
    try:
        with open(path) as f:
            for line in f:
                k, _, v = line.partition(" ")
                if v.strip().lstrip("-").isdigit():
                    info[k] = int(v)
    except OSError:
        pass
    return info


def run_allocator(build, threads, allocator, lib_path, conf, run_dir, timeout, round_no):
    """One run of the benchmark: its record, with the refusal reason or None."""
    cmd = [build["binary"], str(threads)]
    stats_tmpl = os.path.join(run_dir, "hakmem.%p.json")
    full_conf = None
    if allocator.startswith("hakmem"):
        full_conf = (conf + "," if conf else "") + \
            "opt.stats_print=json,opt.stats_file=" + stats_tmpl
    assigns = ([] if lib_path is None else ["LD_PRELOAD=" + lib_path]) + \
        ([] if full_conf is None else ["HAKMEM_CONF=" + full_conf])
    info_path = os.path.join(run_dir, "info")
    out_path, err_path = os.path.join(run_dir, "stdout"), os.path.join(run_dir, "stderr")
    rec = {"allocator": allocator, "threads": threads, "round": round_no, "lib": lib_path,
           "conf": conf, "hakmem_conf": full_conf,
           "command": shell_command(cmd, lib_path, full_conf),
           "launcher_command": [build["launcher"], info_path] + assigns + ["--"] + cmd,
           "maps": None, "stats_file": None, "stats_nmalloc": None, "maxrss_kb": None}
    # the launcher itself runs with no preload and no HAKMEM_CONF; it sets them
    # in the benchmark's environment only
    env = run_env(None, None)
    t0 = time.monotonic()
    try:
        with open(out_path, "w") as out, open(err_path, "w") as err:
            p = subprocess.Popen(rec["launcher_command"], stdout=out, stderr=err, env=env,
                                 start_new_session=True)
    except OSError as e:
        rec.update(rc="oserror", stderr=str(e), result=None, wall_s=0.0,
                   refused="cannot start: %s" % e)
        return rec
    pid = None
    while pid is None and p.poll() is None and time.monotonic() - t0 < 5:
        pid = read_info(info_path).get("pid")
        if pid is None:
            time.sleep(0.01)
    if pid is not None and p.poll() is None:
        time.sleep(max(0.0, MAPS_DELAY_S - (time.monotonic() - t0)))
        try:
            with open("/proc/%d/maps" % pid) as f:
                rec["maps"] = mapped_files(f.read())
        except OSError:
            pass
    try:
        p.wait(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)   # the launcher and the benchmark
        p.wait()
        timed_out = True
    rec["wall_s"] = round(time.monotonic() - t0, 3)
    info = read_info(info_path)
    rec["rc"] = "timeout" if timed_out else info.get("status", "launcher %s" % p.returncode)
    rec["maxrss_kb"] = info.get("maxrss_kb")
    rec["cpu_s"] = info["cpu_us"] / 1e6 if "cpu_us" in info else None
    with open(out_path) as f:
        stdout = f.read()
    with open(err_path) as f:
        rec["stderr"] = f.read()[-2000:]
    rec["result"] = parse_output(stdout) if rec["rc"] == 0 else None
    if rec["result"] is not None and rec["cpu_s"]:
        add_cpu_figures(rec["result"], rec["cpu_s"])
    stats = None
    if full_conf is not None and pid is not None:
        rec["stats_file"] = stats_tmpl.replace("%p", str(pid))
        stats = read_stats(rec["stats_file"])
        if stats is not None:
            rec["stats_nmalloc"] = stats.get("stats", {}).get("nmalloc")
    rec["refused"] = check_run(rec, allocator, lib_path, stats)
    # keep only the allocator libraries of the mappings: the proof, not the noise
    if rec["maps"] is not None:
        rec["maps"] = sorted(m for m in rec["maps"] if any(
            s in os.path.basename(m) for s in list(ALLOCATOR_FILES.values()) + ["libc.so"]))
    return rec


# ---------------------------------------------------------------- analysis

def median_or_none(vals):
    return statistics.median(vals) if vals else None


def summarize(runs, threads_list, rows, nproc):
    """{threads: {row: cell}} over the valid runs: medians and spreads, and the
    median it/s of the runs that had the cores (FULL_CORES)."""
    out = {}
    for t in threads_list:
        want = FULL_CORES * min(t, nproc)
        out[t] = {}
        for a in rows:
            ok = [r for r in runs if r["threads"] == t and r["allocator"] == a
                  and not r["refused"]]
            n_all = len([r for r in runs if r["threads"] == t and r["allocator"] == a])
            ips = [r["result"]["iters_per_s"] for r in ok]
            rss = [r["result"]["max_rss"] / 1024.0 for r in ok]
            exit_rss = [r["maxrss_kb"] / 1024.0 for r in ok]
            tpi = [r["result"]["time_per_iteration"] for r in ok]
            ipc = [r["result"]["iters_per_cpu_s"] for r in ok]
            full = [r["result"]["iters_per_s"] for r in ok if r["result"]["cores_used"] >= want]
            cores = [r["result"]["cores_used"] for r in ok]
            out[t][a] = {"runs": len(ok), "refused": n_all - len(ok),
                         "iters_per_s": median_or_none(ips),
                         "iters_per_s_min": min(ips) if ips else None,
                         "iters_per_s_max": max(ips) if ips else None,
                         "time_per_iteration_ns": median_or_none(tpi),
                         "iters_per_s_full_cores": median_or_none(full),
                         "runs_full_cores": len(full),
                         "iters_per_cpu_s": median_or_none(ipc),
                         "cores_used": median_or_none(cores),
                         "cores_used_min": min(cores) if cores else None,
                         "peak_rss_mib": median_or_none(rss),
                         "peak_rss_mib_max": max(rss) if rss else None,
                         "exit_rss_mib": median_or_none(exit_rss)}
        for a in rows:
            cell = out[t][a]
            for base in BASELINES:
                b = out[t].get(base, {})
                cell["speed_vs_" + base] = ratio(cell["iters_per_s"], b.get("iters_per_s"))
                cell["cpu_speed_vs_" + base] = ratio(cell["iters_per_cpu_s"],
                                                     b.get("iters_per_cpu_s"))
                cell["full_cores_speed_vs_" + base] = ratio(cell["iters_per_s_full_cores"],
                                                            b.get("iters_per_s_full_cores"))
                cell["rss_vs_" + base] = ratio(cell["peak_rss_mib"], b.get("peak_rss_mib"))
                cell["exit_rss_vs_" + base] = ratio(cell["exit_rss_mib"], b.get("exit_rss_mib"))
    return out


def ratio(a, b):
    return None if a is None or not b else float(a) / b


# ---------------------------------------------------------------- report

def fmt_rate(v):
    if v is None:
        return "-"
    return "%.1f M" % (v / 1e6) if v >= 1e6 else "%.0f k" % (v / 1e3)


def fmt(v, spec="%.2f"):
    return "-" if v is None else spec % v


def tmp_words(cmd, build):
    """A command as shell words, the temporary directory written $TMP."""
    return " ".join(shlex.quote(c).replace(build["tmp"], "$TMP") for c in cmd)


def markdown(meta, build, runs, summary, rows):
    L = ["# glibc's bench-malloc-thread under hakmem and the peers", ""]
    L.append("- date: %s; host: %s, %s; nproc %s (%d cores); kernel %s" % (
        meta["date"], meta["host"], meta["cpu"], meta["nproc"], meta["cores"], meta["kernel"]))
    L.append("- hakmem: %s (commit %s)" % (meta["libs"].get("hakmem"), meta["commit"]))
    vers = meta.get("versions", {})
    for n, pkg, _ in R.PEERS:
        if n in meta["libs"]:
            v = vers.get(pkg or "libc6")
            L.append("- %s: %s%s" % (n, meta["libs"][n] or "libc.so.6 (no preload)",
                                     " (%s %s)" % (pkg or "libc6", v) if v else ""))
    L.append("- benchmark: `%s` from %s (%s %s), built with %s against the installed "
             "glibc" % (BENCH_SRC, build["tarball"], SOURCE_PACKAGE,
                        vers.get(SOURCE_PACKAGE, "?"), meta["compiler"]))
    L.append("- %d s per run (glibc's default: %d s), %d round(s), each round every thread "
             "count and within it every allocator in the order of the tables; 1-minute load "
             "average %s at the start, %s at the end; the whole run took %.0f s" % (
                 build["duration_s"], build["glibc_duration_s"], meta["rounds"],
                 meta.get("loadavg_start"), meta.get("loadavg_end"), meta["elapsed_s"]))
    L.append("- this report: `%s`" % meta["invocation"])
    L.append("")
    refused = [r for r in runs if r["refused"]]
    if refused:
        L.append("**REFUSED: %d run(s) failed their checks and are left out:**" % len(refused))
        L.append("")
        for r in refused:
            L.append("- %s, %d thread(s), round %d: %s" % (r["allocator"], r["threads"],
                                                         r["round"], r["refused"]))
        L.append("")
    ts = sorted(summary)

    def summary_table(head, cols):
        L.append("| allocator | " + " | ".join(h % t for h in head for t in ts) + " |")
        L.append("| --- | " + " | ".join("---:" for _ in head for _ in ts) + " |")
        for a in rows:
            L.append("| %s | %s |" % (a, " | ".join(
                f(summary[t][a][k]) for k, f in cols for t in ts)))
        L.append("")

    mib = lambda v: fmt(v, "%.1f")
    L.append("## Summary")
    L.append("")
    L.append("Medians over the rounds. it/s: iterations per second (one iteration: a free "
             "and a malloc), all threads together, which depends on how many cores a run "
             "got (the `cores` column of each thread count's table: %d means all of them; "
             "less means other work shared the machine); it/CPU-s: iterations per "
             "CPU-second of the process, which moves much less with that load; it/s, "
             "full cores: the median it/s of only the runs that kept at least %d %% of "
             "min(threads, %d) cores busy (how many: the `n` column below)." % (
                 meta["nproc"], FULL_CORES * 100, meta["nproc"]))
    L.append("")
    summary_table(["%d thr it/s", "%d thr it/s, full cores", "%d thr it/CPU-s"],
                  [("iters_per_s", fmt_rate), ("iters_per_s_full_cores", fmt_rate),
                   ("iters_per_cpu_s", fmt_rate)])
    L.append("Peak RSS in MiB: when the timed loop ends (the benchmark's getrusage "
             "`max_rss`), and at exit (`ru_maxrss` from wait4, which for hakmem includes "
             "the at-exit stats print of the proof; see the end).")
    L.append("")
    summary_table(["%d thr MiB", "%d thr at exit"],
                  [("peak_rss_mib", mib), ("exit_rss_mib", mib)])
    for t in ts:
        L.append("## %d thread(s)" % t)
        L.append("")
        L.append("iterations/s: median (min-max) over the valid runs; speed ratios >1 = "
                 "faster than the baseline; full cores: median it/s of the n runs that had "
                 "the cores; it/CPU-s: median iterations per CPU-second; "
                 "cores: median (min) CPU time over the timed loop's wall time, %d at "
                 "most here; ns/iter: glibc's own time_per_iteration (the threads' summed "
                 "wall time per iteration)." % min(t, meta["nproc"]))
        L.append("")
        L.append("| allocator | runs | iterations/s | vs mimalloc | vs glibc | full cores: "
                 "it/s (n) | vs mimalloc | it/CPU-s | vs mimalloc | vs glibc | cores | "
                 "ns/iter |")
        L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
                 "| ---: |")
        for a in rows:
            c = summary[t][a]
            runs_cell = "%d" % c["runs"] + (" (+%d refused)" % c["refused"]
                                             if c["refused"] else "")
            if c["runs"] == 0:
                L.append("| %s | %s | REFUSED | | | | | | | | | |" % (a, runs_cell))
                continue
            L.append("| %s | %s | %s (%s-%s) | %s | %s | %s (%d) | %s | %s | %s | %s | %s (%s) "
                     "| %s |" % (
                a, runs_cell, fmt_rate(c["iters_per_s"]), fmt_rate(c["iters_per_s_min"]),
                fmt_rate(c["iters_per_s_max"]), fmt(c["speed_vs_mimalloc"]),
                fmt(c["speed_vs_glibc"]), fmt_rate(c["iters_per_s_full_cores"]),
                c["runs_full_cores"], fmt(c["full_cores_speed_vs_mimalloc"]),
                fmt_rate(c["iters_per_cpu_s"]),
                fmt(c["cpu_speed_vs_mimalloc"]), fmt(c["cpu_speed_vs_glibc"]),
                fmt(c["cores_used"]), fmt(c["cores_used_min"]),
                fmt(c["time_per_iteration_ns"], "%.1f")))
        L.append("")
        L.append("peak RSS: median (max) of the benchmark's `max_rss` when its loop ends; "
                 "RSS ratios <1 = smaller than the baseline; at exit: median wait4 "
                 "`ru_maxrss`.")
        L.append("")
        L.append("| allocator | peak RSS MiB | vs mimalloc | vs glibc | at exit MiB |")
        L.append("| --- | ---: | ---: | ---: | ---: |")
        for a in rows:
            c = summary[t][a]
            if c["runs"] == 0:
                L.append("| %s | REFUSED | | | |" % a)
                continue
            L.append("| %s | %s (%s) | %s | %s | %s |" % (
                a, mib(c["peak_rss_mib"]), mib(c["peak_rss_mib_max"]),
                fmt(c["rss_vs_mimalloc"]), fmt(c["rss_vs_glibc"]), mib(c["exit_rss_mib"])))
        L.append("")
    L.append("## How it was built and run")
    L.append("")
    L.append("Extracted into a temporary directory (deleted afterwards):")
    L.append("")
    L.append("    TMP=$(mktemp -d)")
    L.append("    " + tmp_words(build["extract_command"], build))
    L.append("")
    L.append("Changed there to build outside glibc's tree: `%s` is our shim "
             "(`HP_TIMING_NOW` from `clock_gettime(CLOCK_MONOTONIC)` in ns, "
             "`HP_TIMING_DIFF`, `HP_TIMING_ACCUM_NT`: glibc's own is internal, so "
             "`timing_type` still reads `hp_timing`), and %s. Built with:" % (
                 ", ".join(build["shims"]), build["patch"]))
    L.append("")
    L.append("    " + tmp_words(build["compile_command"], build))
    L.append("")
    L.append("`nm -D` shows malloc and free undefined in the binary: every call goes "
             "through the allocator preloaded. Each run, with THREADS one of %s (the "
             "run's own directory under $TMP differs every run):" % ",".join(str(t) for t in ts))
    L.append("")
    seen = set()
    for r in runs:
        if r["allocator"] in seen:
            continue
        seen.add(r["allocator"])
        cmd = r["command"].replace(build["tmp"], "$TMP")
        L.append("    %s" % re.sub(r" %d$" % r["threads"], " THREADS", cmd))
    L.append("")
    L.append("A run counts when it exits 0 and prints the benchmark's JSON, its stderr has "
             "no `ERROR: ld.so` (nor, for hakmem, a rejected `HAKMEM_CONF` entry), "
             "`/proc/PID/maps` read %.1f s in shows the preloaded library and no other "
             "allocator's, and, for hakmem, the stats file written at exit "
             "(`opt.stats_print=json`) has `stats.nmalloc` >= %d and >= %d %% of the "
             "iterations." % (MAPS_DELAY_S, NMALLOC_FLOOR, NMALLOC_SHARE * 100))
    L.append("")
    L.append("Each command runs through a launcher of ours (`%s`, built with `%s`) that "
             "forks, sets `LD_PRELOAD` and `HAKMEM_CONF` in the child only, execs the "
             "benchmark and reports its `ru_maxrss` from wait4 (`at exit`): Linux "
             "carries the RSS peak of a forked copy of the parent across exec, so "
             "`os.wait4` on a child forked straight from Python reports at least "
             "Python's own RSS (14-21 MiB here, the same for every allocator). Forked "
             "from the small launcher, the benchmark's own getrusage `max_rss`, which it "
             "prints when its timed loop ends, is its real peak; that is the `peak RSS` "
             "the ratios use, because hakmem's at-exit stats print (the proof, "
             "`opt.stats_print=json`) raises hakmem's `ru_maxrss` at exit by about "
             "0.5-1 MiB, which the peers do not pay." % (
                 os.path.basename(build["launcher"]),
                 tmp_words(build["launcher_command"], build)))
    L.append("")
    return "\n".join(L)


def write_reports(data, out_dir):
    base = os.path.join(out_dir, NAME)
    md = markdown(data["meta"], data["build"], data["runs"], data["summary_by_threads"],
                  data["meta"]["rows"])
    R.write_atomic(base + ".json", json.dumps(data, indent=1) + "\n")
    R.write_atomic(base + ".md", md)
    return base, md


# ---------------------------------------------------------------- self-test

def self_test():
    """The parser, the refusal rules and the writers on made-up runs."""
    failures = []
    out = ('{"timing_type": "hp_timing", "functions": {"malloc": {"": {"duration": 4e+09, '
           '"iterations": 2e+08, "time_per_iteration": 20, "max_rss": 3000, "threads": 2, '
           '"min_size": 4, "max_size": 32768, "random_seed": 88}}}}')
    res = parse_output(out)
    if res is None or abs(res["iters_per_s"] - 1e8) > 1:
        failures.append("parse_output: %r" % res)
    add_cpu_figures(res, 3.0)
    if abs(res["iters_per_cpu_s"] - 2e8 / 3) > 1 or abs(res["cores_used"] - 1.5) > 1e-9:
        failures.append("add_cpu_figures: %r" % res)
    if parse_output("not json") is not None or parse_output('{"functions": {}}') is not None:
        failures.append("parse_output accepted a bad document")
    text = "a\n#define BENCHMARK_DURATION\t10\n#define RAND_SEED 88\n"
    patched, d = patch_duration(text)
    if d != 10 or "#ifndef BENCHMARK_DURATION\n#define BENCHMARK_DURATION\t10\n#endif" \
            not in patched:
        failures.append("patch_duration: %r" % patched)
    try:
        patch_duration("nothing")
        failures.append("patch_duration accepted a file without the define")
    except ValueError:
        pass
    hk = "/b/.libs/libhakmem.so"
    mi = R.LIBDIR + "/libmimalloc.so.2"
    stats_ok = {"stats": {"nmalloc": 200000000}}

    def rec(alloc, maps, rc=0, err="", result=res, threads=2):
        return {"allocator": alloc, "threads": threads, "rc": rc, "stderr": err,
                "result": result, "maps": maps, "stats_file": "/t/hakmem.1.json",
                "maxrss_kb": 3000, "cpu_s": 2.0}

    cases = [
        ("hakmem ok", rec("hakmem", {hk, "/lib/libc.so.6"}), "hakmem", hk, stats_ok, False),
        ("variant ok", rec("hakmem[tiny.cache_bytes=8192]", {hk}), "hakmem[tiny.cache_bytes=8192]",
         hk, stats_ok, False),
        ("no stats file", rec("hakmem", {hk}), "hakmem", hk, None, True),
        ("few mallocs", rec("hakmem", {hk}), "hakmem", hk, {"stats": {"nmalloc": 9999}}, True),
        ("below the iterations", rec("hakmem", {hk}), "hakmem", hk,
         {"stats": {"nmalloc": 1000000}}, True),
        ("conf rejected", rec("hakmem", {hk}, err="hakmem: HAKMEM_CONF: unknown key 'x': "
                              "skipped"), "hakmem", hk, stats_ok, True),
        ("ld.so error", rec("mimalloc", {mi}, err="ERROR: ld.so: object '/x' from LD_PRELOAD "
                            "cannot be preloaded"), "mimalloc", mi, None, True),
        ("peer not mapped", rec("mimalloc", {"/lib/libc.so.6"}), "mimalloc", mi, None, True),
        ("hakmem under a peer", rec("mimalloc", {mi, hk}), "mimalloc", mi, None, True),
        ("peer ok", rec("mimalloc", {mi}), "mimalloc", mi, None, False),
        ("glibc ok", rec("glibc", {"/lib/libc.so.6"}), "glibc", None, None, False),
        ("glibc with jemalloc", rec("glibc", {R.LIBDIR + "/libjemalloc.so.2"}), "glibc",
         None, None, True),
        ("maps unread", rec("glibc", None), "glibc", None, None, True),
        ("exit status", rec("glibc", set(), rc=1), "glibc", None, None, True),
        ("no JSON", rec("glibc", set(), result=None), "glibc", None, None, True),
        ("thread count", rec("glibc", set(), threads=4), "glibc", None, None, True),
        ("no maxrss", dict(rec("glibc", set()), maxrss_kb=None), "glibc", None, None, True),
    ]
    for label, r, alloc, lib, stats, want_refused in cases:
        reason = check_run(r, alloc, lib, stats)
        if (reason is not None) != want_refused:
            failures.append("check_run %s: %r" % (label, reason))
    runs = []
    for rnd, (a, ips, kb) in enumerate([("hakmem", 3e8, 4096), ("glibc", 1e8, 2048),
                                        ("mimalloc", 2e8, 8192), ("hakmem", 3e8, 4096),
                                        ("glibc", 1e8, 2048), ("mimalloc", 2e8, 8192)]):
        r = {"allocator": a, "threads": 1, "round": rnd // 3, "refused": None,
             "maxrss_kb": kb + 512, "command": "x 1", "stats_file": None,
             "result": {"iters_per_s": ips, "time_per_iteration": 1e9 / ips, "max_rss": kb,
                        "iters_per_cpu_s": ips / 2, "cores_used": 1.0}}
        runs.append(r)
    runs.append(dict(runs[0], refused="made up", round=2))
    rows = ["hakmem", "glibc", "mimalloc"]
    summ = summarize(runs, [1], rows, 2)
    h = summ[1]["hakmem"]
    if h["runs"] != 2 or h["refused"] != 1 or abs(h["speed_vs_mimalloc"] - 1.5) > 1e-9 \
            or abs(h["rss_vs_glibc"] - 2.0) > 1e-9 or abs(h["speed_vs_glibc"] - 3.0) > 1e-9:
        failures.append("summarize: %r" % h)
    meta = {"date": "d", "host": "h", "cpu": "c", "nproc": 2, "cores": 2, "kernel": "k",
            "libs": {"hakmem": hk, "glibc": None, "mimalloc": mi}, "commit": "none",
            "versions": {}, "compiler": "gcc", "rounds": 2, "loadavg_start": 0.1,
            "loadavg_end": 0.2, "elapsed_s": 1.0, "invocation": "x", "rows": rows}
    build = {"tarball": "/t.tar.xz", "duration_s": 1, "glibc_duration_s": 10,
             "extract_command": ["tar"], "compile_command": ["gcc"], "shims": ["hp-timing.h"],
             "launcher": "/t/maxrss_exec", "launcher_command": ["gcc", "/t/maxrss_exec.c"],
             "tmp": "/t",
             "patch": "p"}
    md = markdown(meta, build, runs, summ, rows)
    for what, good in [("speed summary", "| hakmem | 300.0 M | 300.0 M | 150.0 M |" in md),
                       ("memory summary", "| hakmem | 4.0 | 4.5 |" in md),
                       ("ratios", "| hakmem | 2 (+1 refused) | 300.0 M (300.0 M-300.0 M) | "
                        "1.50 | 3.00 | 300.0 M (2) | 1.50 | 150.0 M | 1.50 | 3.00 | 1.00 (1.00) |"
                        in md),
                       ("memory row", "| hakmem | 4.0 (4.0) | 0.50 | 2.00 | 4.5 |" in md),
                       ("refusal listed", "hakmem, 1 thread(s), round 2: made up" in md)]:
        if not good:
            failures.append("report: " + what)
    return R.self_test_verdict("glibc_thread", failures)


# ---------------------------------------------------------------- main

def parse_hakmem_confs(text):
    return [c.strip() for c in (text or "").split(";") if c.strip()]


def main(argv):
    ap = R.runner_parser(__doc__, "glibc_thread.{json,md}", ".libs/libhakmem.so")
    ap.add_argument("--threads", default="1,2,4", help="thread counts (default 1,2,4)")
    ap.add_argument("--seconds", type=int, default=2,
                    help="BENCHMARK_DURATION, whole seconds per run (default 2; glibc's is "
                    "10)")
    ap.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    ap.add_argument("--allocators", default=",".join(R.ALLOCATOR_ORDER),
                    help="comma-separated subset of %s" % ",".join(R.ALLOCATOR_ORDER))
    ap.add_argument("--hakmem-confs", default=DEFAULT_HAKMEM_CONFS,
                    help="';'-separated HAKMEM_CONF strings, each an extra row hakmem[CONF] "
                    "(default '%s'; '' for none)" % DEFAULT_HAKMEM_CONFS)
    ap.add_argument("--hakmem-lib", help="the hakmem library to preload "
                    "(default BUILDDIR/.libs/libhakmem.so)")
    ap.add_argument("--hakmem-label", help="what that library was built from, shown in the "
                    "report instead of the source tree's commit (e.g. 'abc1234, clean "
                    "build')")
    ap.add_argument("--timeout", type=int, default=60,
                    help="seconds a run may take beyond --seconds (default 60)")
    ap.add_argument("--no-install", action="store_true", help="never run apt-get")
    ap.add_argument("--keep-tmp", action="store_true",
                    help="keep the temporary directory (sources, binary, outputs)")
    ap.add_argument("--render", metavar="JSON", help="rewrite the .md (and the summary in "
                    "the .json) beside a results JSON from its runs, without running anything")
    ap.add_argument("--self-test", action="store_true",
                    help="check the parser, the refusal rules and the writers on made-up runs")
    args = ap.parse_args(argv)
    if args.self_test:
        return self_test()
    if args.render:
        with open(args.render) as f:
            data = json.load(f)
        meta = data["meta"]
        data["summary_by_threads"] = summarize(data["runs"], meta["threads"], meta["rows"],
                                               meta["nproc"])
        base, _ = write_reports(data, os.path.dirname(os.path.abspath(args.render)))
        log("%s: rewrote %s.{json,md}" % (NAME, base))
        return 0
    try:
        threads_list = [int(t) for t in args.threads.split(",") if t]
    except ValueError:
        ap.error("--threads wants comma-separated numbers")
    if not threads_list or min(threads_list) < 1 or args.seconds < 1 or args.rounds < 1:
        ap.error("--threads, --seconds and --rounds must be positive")
    allocators = [a for a in args.allocators.split(",") if a]
    for a in allocators:
        if a not in R.ALLOCATOR_ORDER:
            ap.error("unknown allocator %s" % a)
    args.builddir = os.path.abspath(args.builddir)
    if args.hakmem_lib is None:
        args.hakmem_lib = os.path.join(args.builddir, ".libs", "libhakmem.so")
    for tool in ("tar", os.environ.get("CC", "gcc"), "nm"):
        if not shutil.which(tool):
            log("%s: %s is not installed" % (NAME, tool))
            return 1
    tarball = find_tarball(args.no_install)
    if tarball is None:
        return 1

    setup = argparse.Namespace(allocators=allocators, no_install=args.no_install,
                               no_callgrind=True, no_strace=True, hakmem_lib=args.hakmem_lib)
    libs = R.setup_allocators(setup)
    if "hakmem" in libs and not os.path.exists(libs["hakmem"]):
        log("%s: %s does not exist; the hakmem runs will be refused" % (NAME, libs["hakmem"]))
    # rows: (name, library, extra conf)
    rows = []
    for a in R.ALLOCATOR_ORDER:
        if a not in libs:
            continue
        rows.append((a, libs[a], None))
        if a == "hakmem":
            rows += [("hakmem[%s]" % c, libs[a], c) for c in parse_hakmem_confs(args.hakmem_confs)]
    if not rows:
        log("%s: no allocator to run" % NAME)
        return 1

    tmp = tempfile.mkdtemp(prefix="hakmem-glibc-thread-")
    t_start = time.monotonic()
    try:
        try:
            build = build_benchmark(tarball, tmp, args.seconds)
        except (RuntimeError, ValueError, OSError) as e:
            log("%s: %s" % (NAME, e))
            return 1
        log("%s: built %s from %s (%d s per run)" % (NAME, build["binary"], tarball,
                                                    args.seconds))
        meta = R.machine_info(SRCDIR, threads_list, NAME, args.rounds, libs)
        if args.hakmem_label:
            meta["commit"] = args.hakmem_label
        meta["nproc"] = len(os.sched_getaffinity(0))
        rc, cc_ver = run_capture([os.environ.get("CC", "gcc"), "--version"])
        meta["compiler"] = cc_ver.splitlines()[0] if rc == 0 and cc_ver else "?"
        rc, v = run_capture(["dpkg-query", "-W", "-f", "${Version}", SOURCE_PACKAGE])
        if rc == 0 and v.strip():
            meta["versions"][SOURCE_PACKAGE] = v.strip()
        meta["rows"] = [r[0] for r in rows]
        meta["invocation"] = " ".join(["python3", os.path.relpath(os.path.abspath(__file__),
                                                                   os.getcwd())]
                                      + [shlex.quote(a) for a in argv])
        runs = []
        n_total = args.rounds * len(threads_list) * len(rows)
        for rnd in range(args.rounds):
            for t in threads_list:
                for name, lib, conf in rows:
                    run_dir = os.path.join(tmp, "run-%d" % len(runs))
                    os.makedirs(run_dir)
                    r = run_allocator(build, t, name, lib, conf, run_dir,
                                      args.seconds + args.timeout, rnd)
                    runs.append(r)
                    if r["refused"]:
                        log("%s: [%d/%d] round %d, %d thr, %-30s REFUSED: %s" % (
                            NAME, len(runs), n_total, rnd, t, name, r["refused"]))
                    else:
                        log("%s: [%d/%d] round %d, %d thr, %-30s %s it/s, %.1f MiB "
                            "(%.1f at exit)" % (
                            NAME, len(runs), n_total, rnd, t, name,
                            fmt_rate(r["result"]["iters_per_s"]),
                            r["result"]["max_rss"] / 1024.0, r["maxrss_kb"] / 1024.0))
        meta["loadavg_end"] = R.loadavg()
        meta["elapsed_s"] = round(time.monotonic() - t_start, 1)
        summary = summarize(runs, threads_list, meta["rows"], meta["nproc"])
        data = {"meta": meta, "build": build, "summary_by_threads": summary, "runs": runs}
        os.makedirs(args.out, exist_ok=True)
        base, md = write_reports(data, args.out)
        print(md)
        log("%s: wrote %s.{json,md}" % (NAME, base))
        return 2 if any(r["refused"] for r in runs) else 0
    finally:
        if args.keep_tmp:
            log("%s: kept %s" % (NAME, tmp))
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
