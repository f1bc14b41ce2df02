#!/usr/bin/env python3
"""run.py - the hakmem benchmark runner behind `make bench` and `make bench-quick`.

Runs every workload in bench/ under hakmem, glibc, jemalloc, mimalloc and
tcmalloc (LD_PRELOAD; glibc: nothing preloaded), interleaved
A B C D E A B C D E ... for N rounds, and reports medians and spreads as JSON,
a markdown table of ratios against mimalloc (>1 = better than mimalloc) and an
SVG plot, in OUT/{quick,full}.{json,md,svg}. It also counts instructions per
malloc/free pair with callgrind (fastpath, two iteration counts, difference)
and, for the page-layer workloads, mmap/munmap/mremap calls per 1,000
operations with strace (one extra untimed run per allocator, minus a run of
the same program with no operations).

Every run is checked before it is used:
  - the program exited 0 and printed one parseable RESULT line;
  - allocator_lib (the object whose malloc the process called) is the
    preloaded library (libc.so.6 for glibc);
  - hakmem runs: hakmem_nmalloc (hakmem's "stats.nmalloc") is present and at
    least the allocations the workload made; peer runs: hakmem_nmalloc is
    absent ("-"), else hakmem ran instead of the peer.
A run that fails a check is refused: its cell reads REFUSED, it is left out of
every number and ratio, and the runner exits 2. Timings are never asserted.

Standard library only. See bench/README.md.
"""

import argparse
import datetime
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

LIBDIR = "/usr/lib/x86_64-linux-gnu"

# name, Debian package, library file (None: glibc, nothing preloaded)
PEERS = [
    ("glibc", None, None),
    ("jemalloc", "libjemalloc2", "libjemalloc.so.2"),
    ("mimalloc", "libmimalloc2.0", "libmimalloc.so.2"),
    ("tcmalloc", "libtcmalloc-minimal4", "libtcmalloc_minimal.so.4"),
]
ALLOCATOR_ORDER = ["hakmem", "glibc", "jemalloc", "mimalloc", "tcmalloc"]


def run_order(allocators, rnd, wi):
    """The allocators in the order they run workload wi in round rnd: rotated
    by one for every round and workload, so that no allocator always runs
    first (in bench/programs.py the first run after another workload's
    writes, or after a 450 MB input was written, took up to twice its time
    whatever the allocator). programs.py uses it too."""
    k = (rnd - 1 + wi) % len(allocators)
    return allocators[k:] + allocators[:k]


BASELINE = "mimalloc"
FASTPATH_SIZES = [16, 64, 256]
CALLGRIND_ITERS = (100000, 200000)
# the per-1,000-operations figure counts MAP_CALLS; brk and madvise (how
# glibc's main heap and tcmalloc grow, how jemalloc, tcmalloc and mimalloc give
# memory back) are traced too and shown beside it
MAP_CALLS = ("mmap", "munmap", "mremap")
STRACE_CALLS = MAP_CALLS + ("brk", "madvise")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- workloads

def workloads(mode, threads):
    """The workload table: name, program, arguments, primary metric.

    metric "ops_per_s" is better when higher, "ns_per_op" when lower. Quick
    mode uses the seeds' parameters where the seeds gave them (random_mixed,
    mid_large_mt) and a few to tens of milliseconds of work elsewhere; full
    mode multiplies the work by 5 to 50 so each run lasts 0.1 s or more, which
    averages out more of a shared machine's noise.
    """
    q = mode == "quick"
    t = str(threads)
    w = []

    def add(name, prog, args, metric="ops_per_s", group=None, zero_args=None, extras=None):
        e = {"name": name, "program": prog, "args": [str(a) for a in args],
             "metric": metric, "group": group or prog}
        if zero_args is not None:
            # counted with strace (mmap/munmap/mremap per 1,000 operations):
            # zero_args is the same run with no operations, whose calls
            # (start-up, set-up, exit) are subtracted
            e["syscalls"] = True
            e["zero_args"] = [str(a) for a in zero_args]
        if extras:
            e["extras"] = list(extras)   # more result-line values to report
        w.append(e)

    # random_mixed and mid_large_mt: the seeds' exact parameters in quick mode
    cycles = 200000 if q else 10000000
    for slots in (256, 4096, 8192):
        add("random_mixed_%d" % slots, "random_mixed", [cycles, slots, 42])
    # the classic larson shape (8-1000 B); 4 (8) thread generations per slot
    add("larson", "larson", [t, 8, 1000, 1000 if q else 5000, 100, 42, 4 if q else 8])
    add("mid_large_mt", "mid_large_mt", [t, 40000 if q else 800000, 2048, 42])
    for name, iters in (("json", 200000), ("mir", 40000), ("vm", 4000)):
        add("scenario_" + name, "scenario", [name, iters if q else iters * 20], "ns_per_op")
    for pattern in ("lifo", "fifo", "random", "interleaved", "long_lived"):
        add("sequential_" + pattern, "sequential", [pattern, 1000, 3000 if q else 20000, 42])
    # a ring of 1,024 lets a thread run ahead while its neighbour is descheduled
    add("xthread", "xthread", [t, 500000 if q else 4000000, 1024, 42])
    # cross-thread traffic at 2, 8 and 32 threads whatever the cores (more
    # threads than cores expose preempted lock holders): producers allocate,
    # consumers free (1 -> 1, 1 -> N, N -> 1), and the ring at 8 and 32
    total = 1000000 if q else 8000000
    for p_, c_ in ((1, 1), (1, 7), (7, 1), (1, 31), (31, 1)):
        add("prodcons_%d_%d" % (p_, c_), "prodcons", [p_, c_, total // p_, 1024, 42])
    for n_ in (8, 32):
        add("xthread_%d" % n_, "xthread", [n_, total // n_, 1024, 42])
    for size in FASTPATH_SIZES:
        add("fastpath_%d" % size, "fastpath", [size, 10000000 if q else 100000000])
    add("startup", "startup", [100 if q else 400], "ns_per_op")
    # the page layer, 32 KiB to tens of MiB: mimalloc-bench's malloc-large
    # (5-25 MiB, 20 live), a live set of 40 KB blocks, threads churning small
    # and 40-340 KB blocks, a buffer grown by realloc to 32 MiB. Quick mode:
    # about 0.1-1.5 s per run (mimalloc and jemalloc, which return the big
    # blocks to the kernel, are the slow ones here).
    add("malloc_large", "malloc_large", [100 if q else 500, 20, 42], zero_args=[0, 20, 42])
    add("live_growth", "live_growth", [20000 if q else 100000], zero_args=[0],
        extras=["maps_lines", "vmpte_kb"])
    add("churn_mixed", "churn_mixed", [t, 200000 if q else 1000000, 2048, 42],
        zero_args=[t, 0, 2048, 42])
    add("realloc_growth", "realloc_growth", [3 if q else 16], zero_args=[0])
    # C++: std::map/std::string/std::vector churn through operator new/delete
    add("cxx_churn", "cxx_churn", [t, 300000 if q else 2000000, 20000, 42])
    return w


# ---------------------------------------------------------------- allocators

def run_quiet(cmd, **kw):
    try:
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, **kw)
    except OSError as e:
        return subprocess.CompletedProcess(cmd, 127, str(e))


def find_peer_lib(filename):
    path = os.path.join(LIBDIR, filename)
    if os.path.exists(path):
        return path
    out = run_quiet(["/sbin/ldconfig", "-p"]).stdout or ""
    for line in out.splitlines():
        if line.strip().startswith(filename + " ") and "=>" in line:
            cand = line.split("=>", 1)[1].strip()
            if "x86-64" in line or "x86_64" in cand:
                return cand
    return None


def install_packages(packages):
    """apt-get install -y PACKAGES: as root, else through sudo, else a message.

    Returns True when the install command ran and succeeded."""
    if os.geteuid() == 0:
        prefix = []
    elif shutil.which("sudo") and run_quiet(["sudo", "-n", "true"]).returncode == 0:
        prefix = ["sudo", "-n"]
    else:
        log("bench: missing Debian packages: %s\n"
            "bench: not root and no password-less sudo; install them with\n"
            "bench:     sudo apt-get install -y %s" % (" ".join(packages), " ".join(packages)))
        return False
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = prefix + ["apt-get", "install", "-y", "--no-install-recommends"] + packages
    log("bench: installing %s" % " ".join(packages))
    r = run_quiet(cmd, env=env)
    if r.returncode != 0:
        log("bench: apt-get install failed; running apt-get update and trying again")
        run_quiet(prefix + ["apt-get", "update"], env=env)
        r = run_quiet(cmd, env=env)
    if r.returncode != 0:
        log("bench: apt-get install %s failed:\n%s" % (" ".join(packages), r.stdout[-2000:]))
        return False
    return True


def setup_allocators(args):
    """Returns {name: library path or None for glibc}, installing peers if needed."""
    wanted = args.allocators
    missing = [(pkg, f) for n, pkg, f in PEERS if n in wanted and f and not find_peer_lib(f)]
    need_valgrind = not args.no_callgrind and not shutil.which("valgrind")
    need_strace = not args.no_strace and not shutil.which("strace")
    packages = ([pkg for pkg, _ in missing] + (["valgrind"] if need_valgrind else [])
                + (["strace"] if need_strace else []))
    if packages and not args.no_install:
        install_packages(packages)
    elif packages:
        log("bench: missing %s (--no-install given)" % " ".join(packages))
    libs = {}
    for name in wanted:
        if name == "hakmem":
            libs[name] = os.path.abspath(args.hakmem_lib)
            continue
        peer = [p for p in PEERS if p[0] == name][0]
        if peer[2] is None:
            libs[name] = None
            continue
        path = find_peer_lib(peer[2])
        if path is None:
            log("bench: %s (%s, Debian package %s) is not installed; it is left out"
                % (name, peer[2], peer[1]))
            continue
        libs[name] = path
    return libs


def expected_lib_names(path):
    """File names allocator_lib may show for a preloaded library."""
    if path is None:
        return {"libc.so.6"}
    return {os.path.basename(path), os.path.basename(os.path.realpath(path))}


def package_versions():
    pkgs = [p[1] for p in PEERS if p[1]] + ["valgrind", "strace", "libc6"]
    out = run_quiet(["dpkg-query", "-W", "-f", "${Package} ${Version}\\n"] + pkgs).stdout or ""
    vers = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2:
            vers[parts[0]] = parts[1]
    return vers


# ---------------------------------------------------------------- one run

def parse_result(text):
    """The last RESULT line's key=value tokens as a dict, or None."""
    lines = [l for l in text.splitlines() if l.startswith("RESULT ")]
    if not lines:
        return None
    res = {}
    for tok in lines[-1].split()[1:]:
        if "=" not in tok:
            return None
        k, v = tok.split("=", 1)
        res[k] = v
    for k in ("bench", "ops", "secs", "ops_per_s", "ns_per_op", "allocs", "maxrss_kb", "minflt",
              "hakmem_nmalloc", "allocator_lib"):
        if k not in res:
            return None
    try:
        for k in ("ops", "allocs", "maxrss_kb", "minflt"):
            res[k] = int(res[k])
        for k in ("secs", "ops_per_s", "ns_per_op"):
            res[k] = float(res[k])
        if "faults_per_op" in res:
            res["faults_per_op"] = float(res["faults_per_op"])
    except ValueError:
        return None
    return res


def check_result(res, allocator, lib_path, program):
    """Returns None when the run may be used, else the reason to refuse it."""
    if res is None:
        return "no parseable RESULT line"
    if res["bench"] != program:
        return "RESULT line is for bench=%s" % res["bench"]
    names = expected_lib_names(lib_path)
    if res["allocator_lib"] not in names:
        return "malloc came from %s, not %s" % (res["allocator_lib"], "/".join(sorted(names)))
    nm = res["hakmem_nmalloc"]
    if allocator == "hakmem":
        if not nm.isdigit():
            return "hakmem_nmalloc=%s: hakmem's stats are missing" % nm
        if int(nm) < res["allocs"]:
            return "hakmem served %s allocations, fewer than the %d the workload made" % (
                nm, res["allocs"])
    elif nm != "-":
        return "hakmem_ctl is present (hakmem_nmalloc=%s): hakmem ran instead of %s" % (
            nm, allocator)
    return None


def make_env(lib_path):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if lib_path is not None:
        env["LD_PRELOAD"] = lib_path
    return env


def run_one(cmd, allocator, lib_path, program, timeout, env=None):
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True,
                           env=make_env(lib_path) if env is None else env, timeout=timeout)
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = "timeout", e.stdout or "", "timed out after %ds" % timeout
        if isinstance(out, bytes):
            out = out.decode(errors="replace")
    except OSError as e:
        rc, out, err = "oserror", "", str(e)
    wall = time.monotonic() - t0
    res = parse_result(out) if rc == 0 else None
    if rc != 0:
        reason = "exit status %s: %s" % (rc, (err or "").strip()[-300:])
    else:
        reason = check_result(res, allocator, lib_path, program)
    return {"allocator": allocator, "rc": rc, "wall_s": round(wall, 4), "result": res,
            "refused": reason, "command": cmd}


# ---------------------------------------------------------------- callgrind

def callgrind_count(prog, size, iters, lib_path, allocator, timeout):
    """Total instructions (Ir) of one callgrind run, and the run record."""
    fd, outfile = tempfile.mkstemp(prefix="hakmem-cg-", suffix=".out")
    os.close(fd)
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + outfile, prog, str(size),
           str(iters)]
    try:
        rec = run_one(cmd, allocator, lib_path, "fastpath", timeout)
        total = None
        if rec["refused"] is None:
            with open(outfile) as f:
                for line in f:
                    m = re.match(r"^(?:totals|summary):\s+(\d+)", line)
                    if m:
                        total = int(m.group(1))
            if total is None:
                rec["refused"] = "no totals in the callgrind output"
        return total, rec
    finally:
        os.unlink(outfile)


def count_instructions(builddir, libs, timeout):
    prog = os.path.join(builddir, "bench", "fastpath")
    n1, n2 = CALLGRIND_ITERS
    table, runs = {}, []
    for size in FASTPATH_SIZES:
        table[str(size)] = {}
        for name in ALLOCATOR_ORDER:
            if name not in libs:
                continue
            c1, r1 = callgrind_count(prog, size, n1, libs[name], name, timeout)
            c2, r2 = callgrind_count(prog, size, n2, libs[name], name, timeout)
            runs += [dict(r1, size=size, iters=n1), dict(r2, size=size, iters=n2)]
            refused = r1["refused"] or r2["refused"]
            if refused:
                table[str(size)][name] = {"refused": refused}
                log("bench: callgrind %s size %d REFUSED: %s" % (name, size, refused))
            else:
                per = (c2 - c1) / float(n2 - n1)
                table[str(size)][name] = {"per_pair": round(per, 2), "ir": [c1, c2]}
        log("bench: callgrind size %d: %s" % (size, "  ".join(
            "%s %s" % (n, fmt_num(v.get("per_pair"), 1) if "per_pair" in v else "REFUSED")
            for n, v in table[str(size)].items())))
    return table, runs


# ---------------------------------------------------------------- strace

def strace_command():
    """The strace command prefix, or None when strace is missing or cannot
    trace here (no ptrace). --seccomp-bpf (strace 5.3+) stops the process
    only at the traced calls, when it works."""
    if not shutil.which("strace"):
        return None
    base = ["strace", "-f", "-c", "-e", "trace=" + ",".join(STRACE_CALLS)]
    for prefix in (base + ["--seccomp-bpf"], base):
        r = run_quiet(prefix + ["-o", os.devnull, "true"])
        if r.returncode == 0:
            return prefix
    return None


def parse_strace_counts(text):
    """{syscall: calls} from the table strace -c writes (every name in
    STRACE_CALLS present, 0 when absent), or None when there is no table."""
    counts, seen = {c: 0 for c in STRACE_CALLS}, False
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[-1] == "total":
            seen = True
            continue
        if len(parts) >= 5 and parts[-1] in counts:
            try:
                counts[parts[-1]] = int(parts[3])
            except ValueError:
                return None
            seen = True
    return counts if seen else None


def strace_run(prefix, prog, args, allocator, lib_path, program, timeout):
    """One run of prog under strace -c: (counts or None, run record). strace
    itself runs without the preload; -E gives it to the program alone."""
    fd, outfile = tempfile.mkstemp(prefix="hakmem-strace-", suffix=".txt")
    os.close(fd)
    cmd = prefix + ["-o", outfile]
    if lib_path is not None:
        cmd += ["-E", "LD_PRELOAD=" + lib_path]
    cmd += [prog] + args
    try:
        rec = run_one(cmd, allocator, lib_path, program, timeout, env=make_env(None))
        counts = None
        if rec["refused"] is None:
            with open(outfile) as f:
                counts = parse_strace_counts(f.read())
            if counts is None:
                rec["refused"] = "no strace -c table in the output"
        return counts, rec
    finally:
        os.unlink(outfile)


def syscall_entry(full, zero, ops):
    """Calls per 1,000 operations of the full run beyond the zero-work run."""
    e = {"ops": ops, "calls": full, "zero_calls": zero}
    for c in STRACE_CALLS:
        e[c] = 1000.0 * (full[c] - zero[c]) / ops if ops else None
    e["per_1k"] = None if not ops else sum(e[c] for c in MAP_CALLS)
    return e


def count_syscalls(builddir, wls, libs, prefix, timeout):
    """For each workload marked "syscalls" and each allocator: mmap, munmap
    and mremap calls per 1,000 operations, from one untimed run under strace
    minus one of the same program with zero operations."""
    table, runs = {}, []
    for w in wls:
        if not w.get("syscalls"):
            continue
        prog = os.path.join(builddir, "bench", w["program"])
        row = table[w["name"]] = {}
        for name in ALLOCATOR_ORDER:
            if name not in libs:
                continue
            full, r1 = strace_run(prefix, prog, w["args"], name, libs[name], w["program"],
                                  timeout)
            zero, r2 = strace_run(prefix, prog, w["zero_args"], name, libs[name],
                                  w["program"], timeout)
            runs += [dict(r1, workload=w["name"], strace="full"),
                     dict(r2, workload=w["name"], strace="zero")]
            refused = r1["refused"] or r2["refused"]
            if refused:
                row[name] = {"refused": refused}
                log("bench: strace %s %s REFUSED: %s" % (w["name"], name, refused))
                continue
            row[name] = syscall_entry(full, zero, r1["result"]["ops"])
        log("bench: strace %-18s %s" % (w["name"], "  ".join(
            "%s %s" % (n, "REFUSED" if "refused" in v else fmt_num(v["per_1k"], 1))
            for n, v in row.items())))
    return table, runs


# ---------------------------------------------------------------- statistics

def fmt_num(v, digits=2):
    if v is None:
        return "-"
    return ("%%.%df" % digits) % v


def fmt_rate(v):
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return "%.3g%s" % (v / div, suffix)
    return "%.3g" % v


def fmt_ns(v):
    if v >= 1e6:
        return "%.3g ms" % (v / 1e6)
    if v >= 1e3:
        return "%.3g us" % (v / 1e3)
    return "%.3g ns" % v


def summarize(wls, runs, allocators):
    """Per workload and allocator: medians and spreads of the valid runs."""
    summary = {}
    for w in wls:
        s = summary[w["name"]] = {}
        for a in allocators:
            rs = [r for r in runs if r["workload"] == w["name"] and r["allocator"] == a]
            if not rs:
                continue
            refused = [r["refused"] for r in rs if r["refused"]]
            if refused:
                s[a] = {"refused": refused[0], "refused_runs": len(refused), "runs": len(rs)}
                continue
            vals = [r["result"][w["metric"]] for r in rs]
            med = statistics.median(vals)
            entry = {
                "runs": len(vals),
                "metric": w["metric"],
                "median": med,
                "min": min(vals),
                "max": max(vals),
                "spread_pct": 100.0 * (max(vals) - min(vals)) / med if med else 0.0,
                "best": max(vals) if w["metric"] == "ops_per_s" else min(vals),
                "maxrss_kb": statistics.median([r["result"]["maxrss_kb"] for r in rs]),
                "minflt": statistics.median([r["result"]["minflt"] for r in rs]),
                "hakmem_nmalloc": [r["result"]["hakmem_nmalloc"] for r in rs][0],
            }
            if w["metric"] == "ops_per_s":
                entry["throughput"] = med
            else:
                entry["throughput"] = 1e9 / med if med else 0.0
            fpo = [r["result"].get("faults_per_op") for r in rs]
            if all(v is not None for v in fpo):
                entry["faults_per_op"] = statistics.median(fpo)
            for k in w.get("extras", []):
                try:
                    ev = [float(r["result"][k]) for r in rs]
                except (KeyError, ValueError):
                    continue
                entry[k] = statistics.median(ev)
            s[a] = entry
    return summary


def ratio_vs_base(summary, wname, a, key="throughput"):
    s = summary.get(wname, {})
    if a not in s or BASELINE not in s:
        return None
    x, b = s[a].get(key), s[BASELINE].get(key)
    if x is None or b is None or b == 0:
        return None
    return x / b


def geomean(vals):
    vals = [v for v in vals if v is not None and v > 0]
    if not vals:
        return None
    return math.exp(sum(math.log(v) for v in vals) / len(vals))


def targets(wls, summary, instr, allocators):
    """The goals hakmem must reach, each with its value and PASS/FAIL. A goal
    whose hakmem numbers are missing or refused reads "not measured", FAIL."""
    t = []
    if "hakmem" not in allocators or BASELINE not in allocators:
        return t

    def add(target, value, ok):
        t.append({"target": target, "value": value if value else "not measured",
                  "pass": bool(value) and bool(ok)})

    ratios = {w["name"]: ratio_vs_base(summary, w["name"], "hakmem") for w in wls}
    known = {k: v for k, v in ratios.items() if v is not None}
    missing = [k for k, v in ratios.items() if v is None]
    note = ", %d not measured" % len(missing) if missing else ""
    worst = min(known, key=known.get) if known else None
    add("every workload: hakmem throughput >= mimalloc",
        worst and "worst %.2fx (%s)%s" % (known[worst], worst, note),
        worst and known[worst] >= 1.0 and not missing)
    g = geomean(known.values())
    add("geometric mean of throughput ratios >= 1.10x mimalloc",
        g and "%.3fx over %d workloads%s" % (g, len(known), note), g and g >= 1.10 and not missing)
    rss = []
    for w in wls:
        s = summary[w["name"]]
        peers = [s[a]["maxrss_kb"] for a in allocators
                 if a != "hakmem" and a in s and "maxrss_kb" in s[a]]
        if "maxrss_kb" in s.get("hakmem", {}) and peers:
            rss.append((s["hakmem"]["maxrss_kb"] / float(min(peers)), w["name"]))
    worst = max(rss) if rss else None
    add("peak RSS <= lowest peer + 5%",
        worst and "worst %.2fx lowest peer (%s)%s" % (
            worst + (", %d not measured" % (len(wls) - len(rss)) if len(rss) < len(wls)
                     else "",)),
        worst and worst[0] <= 1.05 and len(rss) == len(wls))
    vm = summary.get("scenario_vm", {})
    h, m = vm.get("hakmem", {}).get("faults_per_op"), vm.get(BASELINE, {}).get("faults_per_op")
    add("scenario vm soft faults per op <= mimalloc",
        h is not None and m is not None and "%.3f vs %.3f" % (h, m),
        h is not None and m is not None and h <= m)
    st = summary.get("startup", {})
    h, m = st.get("hakmem", {}).get("median"), st.get(BASELINE, {}).get("median")
    add("startup no slower than mimalloc",
        h and m and "%s vs %s per start" % (fmt_ns(h), fmt_ns(m)), h and m and h <= m)
    vals, ok = [], bool(instr)
    for size, row in sorted(instr.items(), key=lambda kv: int(kv[0])):
        h, m = row.get("hakmem", {}), row.get(BASELINE, {})
        if "per_pair" in h and "per_pair" in m:
            vals.append("%s B: %.1f vs %.1f" % (size, h["per_pair"], m["per_pair"]))
            ok = ok and h["per_pair"] < m["per_pair"]
        else:
            vals.append("%s B: not measured" % size)
            ok = False
    add("fewer instructions per malloc/free pair than mimalloc", "; ".join(vals), ok)
    return t


# ---------------------------------------------------------------- report

def markdown(meta, wls, summary, instr, tgts, refusals, allocators, syscalls=None):
    A = [a for a in ALLOCATOR_ORDER if a in allocators]
    others = [a for a in A if a != BASELINE]
    L = []
    L.append("# hakmem benchmark results (%s mode)" % meta["mode"])
    L.append("")
    L.append("- date: %s; host: %s, %s, %d cores (threads used: %d); kernel %s" % (
        meta["date"], meta["host"], meta["cpu"], meta["cores"], meta["threads"], meta["kernel"]))
    L.append("- %d rounds, allocators interleaved per workload in every round, starting "
             "from %s and rotated by one each round and workload; medians; ±: half the "
             "range, (max - min) / 2 / median" % (meta["rounds"], " ".join(A)))
    L.append("- 1-minute load average %s at the start, %s at the end (%.0f s); other load on "
             "the machine shows as spread" % (meta.get("loadavg_start"), meta.get("loadavg_end"),
                                             meta.get("elapsed_s", 0)))
    L.append("- hakmem: %s (commit %s)" % (meta["libs"].get("hakmem"), meta["commit"]))
    if "strace" in meta:
        L.append("- system call counts: %s" % meta["strace"])
    vers = meta.get("versions", {})
    for n, pkg, _ in PEERS:
        if n in meta["libs"]:
            L.append("- %s: %s%s" % (n, meta["libs"][n] or "libc.so.6 (no preload)",
                                     " (%s %s)" % (pkg or "libc6", vers.get(pkg or "libc6"))
                                     if vers.get(pkg or "libc6") else ""))
    L.append("")
    if refusals:
        L.append("**REFUSED: %d run(s) failed their checks; those cells read REFUSED and are "
                 "left out of every ratio. First reasons:**" % len(refusals))
        L.append("")
        seen = set()
        for r in refusals:
            key = (r["allocator"], r["refused"][:80])
            if key in seen:
                continue
            seen.add(key)
            L.append("- %s / %s: %s" % (r.get("workload", "callgrind"), r["allocator"],
                                        r["refused"]))
            if len(seen) >= 10:
                break
        L.append("")
    if tgts:
        L.append("## Targets (hakmem against mimalloc and the peers)")
        L.append("")
        L.append("| target | measured | status |")
        L.append("| --- | --- | --- |")
        for t in tgts:
            L.append("| %s | %s | %s |" % (t["target"], t["value"],
                                           "PASS" if t["pass"] else "FAIL"))
        L.append("")
    L.append("## Throughput relative to mimalloc (>1 = better than mimalloc)")
    L.append("")
    L.append("For ns/op workloads (scenario, startup) the ratio is mimalloc's time over the "
             "allocator's, so >1 is better there too. Spread in parentheses.")
    L.append("")
    L.append("| workload | " + " | ".join(others) + " | mimalloc (absolute) |")
    L.append("| --- | " + " | ".join("---:" for _ in others) + " | ---: |")

    def cell_abs(e, metric):
        if e is None:
            return "-"
        if "refused" in e:
            return "REFUSED"
        v = fmt_rate(e["median"]) + " ops/s" if metric == "ops_per_s" else fmt_ns(e["median"])
        return "%s (±%.0f%%)" % (v, e["spread_pct"] / 2)

    geo = {a: [] for a in others}
    for w in wls:
        s = summary[w["name"]]
        row = []
        for a in others:
            e = s.get(a)
            if e is None:
                row.append("-")
            elif "refused" in e:
                row.append("REFUSED")
            else:
                r = ratio_vs_base(summary, w["name"], a)
                geo[a].append(r)
                row.append("%.2f (±%.0f%%)" % (r, e["spread_pct"] / 2) if r else "-")
        L.append("| %s | %s | %s |" % (w["name"], " | ".join(row),
                                       cell_abs(s.get(BASELINE), w["metric"])))
    L.append("| **geometric mean** | %s | 1.00 |" % " | ".join(
        "**%s**" % fmt_num(geomean(geo[a])) for a in others))
    L.append("")
    L.append("## Absolute medians")
    L.append("")
    L.append("| workload | " + " | ".join(A) + " |")
    L.append("| --- | " + " | ".join("---:" for _ in A) + " |")
    for w in wls:
        s = summary[w["name"]]
        L.append("| %s | %s |" % (w["name"], " | ".join(cell_abs(s.get(a), w["metric"])
                                                         for a in A)))
    L.append("")
    L.append("## Peak RSS (MiB, median of VmHWM, the process image's peak RSS)")
    L.append("")
    has_h = "hakmem" in A
    L.append("| workload | " + " | ".join(A) + (" | hakmem / lowest peer |" if has_h else " |"))
    L.append("| --- | " + " | ".join("---:" for _ in A) + (" | ---: |" if has_h else " |"))
    for w in wls:
        s = summary[w["name"]]
        cells = []
        for a in A:
            e = s.get(a)
            cells.append("-" if e is None else "REFUSED" if "refused" in e
                         else "%.1f" % (e["maxrss_kb"] / 1024.0))
        extra = ""
        if has_h:
            peers = [s[a]["maxrss_kb"] for a in A if a != "hakmem" and "maxrss_kb" in s.get(a, {})]
            h = s.get("hakmem", {}).get("maxrss_kb")
            extra = " | %s" % ("%.2f" % (h / float(min(peers))) if h and peers else "-")
        L.append("| %s | %s%s |" % (w["name"], " | ".join(cells), extra))
    L.append("")
    L.append("## Soft page faults per operation (timed loop)")
    L.append("")
    L.append("| workload | " + " | ".join(A) + " |")
    L.append("| --- | " + " | ".join("---:" for _ in A) + " |")
    for w in wls:
        s = summary[w["name"]]
        if w["program"] != "scenario" and not any("faults_per_op" in e for e in s.values()):
            continue
        L.append("| %s | %s |" % (w["name"], " | ".join(
            "-" if a not in s else "REFUSED" if "refused" in s[a]
            else "%.3f" % s[a]["faults_per_op"] if "faults_per_op" in s[a] else "-"
            for a in A)))
    L.append("")
    ext = [w for w in wls if w.get("extras")]
    if ext:
        L.append("## Mappings and page tables at the peak")
        L.append("")
        L.append("Lines of /proc/self/maps / VmPTE in KiB, with the whole live set "
                 "allocated (medians).")
        L.append("")
        L.append("| workload | " + " | ".join(A) + " |")
        L.append("| --- | " + " | ".join("---:" for _ in A) + " |")
        for w in ext:
            s = summary[w["name"]]
            cells = []
            for a in A:
                e = s.get(a)
                if e is None:
                    cells.append("-")
                elif "refused" in e:
                    cells.append("REFUSED")
                else:
                    cells.append(" / ".join("%.0f" % e[k] if k in e else "-"
                                            for k in w["extras"]))
            L.append("| %s (%s) | %s |" % (w["name"], " / ".join(w["extras"]),
                                           " | ".join(cells)))
        L.append("")
    sys_wls = [w for w in wls if w.get("syscalls")]
    if sys_wls:
        L.append("## System calls per 1,000 operations (mmap + munmap + mremap, strace)")
        L.append("")
        if syscalls is None:
            L.append("Not measured: %s." % meta.get("strace", "strace was not run"))
        else:
            L.append("One extra untimed run per allocator under `strace -f -c`, minus a run "
                     "of the same program with no operations (start-up, set-up and exit "
                     "cancel). Total (mmap / munmap / mremap).")
            L.append("")
            L.append("| workload | " + " | ".join(A) + " |")
            L.append("| --- | " + " | ".join("---:" for _ in A) + " |")
            for w in sys_wls:
                row = syscalls.get(w["name"], {})
                cells = []
                for a in A:
                    e = row.get(a)
                    if e is None:
                        cells.append("-")
                    elif "refused" in e:
                        cells.append("REFUSED")
                    elif e.get("per_1k") is None:
                        cells.append("- (no operations)")
                    else:
                        cells.append("%s (%s)" % (fmt_num(e["per_1k"], 1), " / ".join(
                            fmt_num(e[c], 1) for c in MAP_CALLS)))
                L.append("| %s | %s |" % (w["name"], " | ".join(cells)))
            L.append("")
            L.append("brk / madvise per 1,000 operations, the same runs (the other calls by "
                     "which allocators get memory and give it back):")
            L.append("")
            L.append("| workload | " + " | ".join(A) + " |")
            L.append("| --- | " + " | ".join("---:" for _ in A) + " |")
            for w in sys_wls:
                row = syscalls.get(w["name"], {})
                cells = []
                for a in A:
                    e = row.get(a)
                    if e is not None and "refused" in e:
                        cells.append("REFUSED")
                    elif e is None or e.get("per_1k") is None:
                        cells.append("-")
                    else:
                        cells.append(" / ".join(fmt_num(e.get(c), 1) for c in ("brk", "madvise")))
                L.append("| %s | %s |" % (w["name"], " | ".join(cells)))
        L.append("")
    if instr:
        L.append("## Instructions per malloc/free pair (callgrind, fastpath)")
        L.append("")
        L.append("(Ir(%d pairs) - Ir(%d pairs)) / %d; includes the loop's 9 instructions "
                 "(two PLT calls, a counter), the same for every allocator." % (
                     CALLGRIND_ITERS[1], CALLGRIND_ITERS[0],
                     CALLGRIND_ITERS[1] - CALLGRIND_ITERS[0]))
        L.append("")
        L.append("| size | " + " | ".join(A) + (" | hakmem / mimalloc |" if has_h else " |"))
        L.append("| --- | " + " | ".join("---:" for _ in A) + (" | ---: |" if has_h else " |"))
        for size in sorted(instr, key=int):
            row = instr[size]
            cells = ["-" if a not in row else "REFUSED" if "refused" in row[a]
                     else "%.1f" % row[a]["per_pair"] for a in A]
            extra = ""
            if has_h:
                h, m = row.get("hakmem", {}), row.get(BASELINE, {})
                extra = " | %s" % ("%.2f" % (h["per_pair"] / m["per_pair"])
                                   if "per_pair" in h and "per_pair" in m and m["per_pair"]
                                   else "-")
            L.append("| %s B | %s%s |" % (size, " | ".join(cells), extra))
        L.append("")
    L.append("## Workloads")
    L.append("")
    L.append("| workload | command | metric |")
    L.append("| --- | --- | --- |")
    for w in wls:
        L.append("| %s | `bench/%s %s` | %s |" % (w["name"], w["program"], " ".join(w["args"]),
                                                 w["metric"].replace("_", "/").replace(
                                                     "/per/", "/")))
    L.append("")
    return "\n".join(L)


def svg_escape(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


COLORS = {"hakmem": "#d62728", "glibc": "#7f7f7f", "jemalloc": "#1f77b4",
          "mimalloc": "#2ca02c", "tcmalloc": "#ff7f0e"}


def svg_panel(y0, title, rows, allocators, width):
    """One grouped bar chart on a log2 axis around 1.0, from 1/4x to 4x or as
    far as the values go (within 1/64x to 64x).

    rows: [(label, {allocator: value or None or 'REFUSED'})]."""
    vals = [v for _, r in rows for v in r.values() if isinstance(v, float) and v > 0]
    lo = 2.0 ** max(-6, min([-2] + [math.floor(math.log2(v)) for v in vals]))
    hi = 2.0 ** min(6, max([2] + [math.ceil(math.log2(v)) for v in vals]))
    left, right, top, plot_h = 90, 20, 40, 260
    plot_w = width - left - right
    n = max(len(rows), 1)
    group_w = plot_w / float(n)
    bar_w = group_w * 0.8 / max(len(allocators), 1)
    lmin, lmax = math.log2(lo), math.log2(hi)

    def ypos(v):
        v = min(max(v, lo), hi)
        return y0 + top + plot_h * (lmax - math.log2(v)) / (lmax - lmin)

    out = ['<text x="%d" y="%d" font-size="15" font-weight="bold">%s</text>' % (
        left, y0 + 22, svg_escape(title))]
    k = lo
    while k <= hi * 1.0001:
        y = ypos(k)
        out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="%s"/>'
                   % (left, width - right, y, y, "#000" if k == 1 else "#ddd",
                      "1.2" if k == 1 else "1"))
        out.append('<text x="%d" y="%.1f" font-size="11" text-anchor="end">%sx</text>' % (
            left - 5, y + 4, ("%g" % k)))
        k *= 2
    base = ypos(1.0)
    for i, (label, vals) in enumerate(rows):
        gx = left + i * group_w + group_w * 0.1
        for j, a in enumerate(allocators):
            v = vals.get(a)
            x = gx + j * bar_w
            if v == "REFUSED":
                out.append('<text x="%.1f" y="%.1f" font-size="9" fill="%s" '
                           'transform="rotate(-90 %.1f %.1f)">refused</text>' % (
                               x + bar_w * 0.75, base - 4, COLORS.get(a, "#000"),
                               x + bar_w * 0.75, base - 4))
                continue
            if v is None or v <= 0:
                continue
            if a == BASELINE:   # 1.0 by definition: a short tick on the 1x line
                out.append('<rect x="%.1f" y="%.1f" width="%.1f" height="3" fill="%s"/>' % (
                    x, base - 1.5, max(bar_w - 1, 1), COLORS.get(a, "#000")))
                continue
            y = ypos(v)
            out.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s">'
                       '<title>%s %s: %.3f</title></rect>' % (
                           x, min(y, base), max(bar_w - 1, 1), max(abs(base - y), 0.5),
                           COLORS.get(a, "#000"), svg_escape(a), svg_escape(label), v))
        lx = left + i * group_w + group_w / 2
        ly = y0 + top + plot_h + 10
        out.append('<text x="%.1f" y="%.1f" font-size="11" text-anchor="end" '
                   'transform="rotate(-40 %.1f %.1f)">%s</text>' % (lx, ly, lx, ly,
                                                                    svg_escape(label)))
    return out, top + plot_h + 110


def svg_plot(meta, wls, summary, allocators):
    A = [a for a in ALLOCATOR_ORDER if a in allocators]
    width = max(900, 90 + 20 + 52 * len(wls))
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
            vt[a] = ratio_vs_base(summary, w["name"], a)
            b = s.get(BASELINE, {}).get("maxrss_kb")
            vr[a] = e["maxrss_kb"] / float(b) if b else None
        rows_t.append((w["name"], vt))
        rows_r.append((w["name"], vr))
    y0 = 50
    p1, h1 = svg_panel(y0, "Throughput relative to mimalloc (higher is better)", rows_t, A,
                       width)
    p2, h2 = svg_panel(y0 + h1, "Peak RSS relative to mimalloc (lower is better)", rows_r, A,
                       width)
    height = y0 + h1 + h2 + 10
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="sans-serif">' % (width, height),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="10" y="20" font-size="13">hakmem bench, %s mode, %d rounds, %s, %s</text>' % (
               meta["mode"], meta["rounds"], svg_escape(meta["date"]), svg_escape(meta["cpu"]))]
    lx = 10
    for a in A:
        label = a + (" (baseline, 1x)" if a == BASELINE else "")
        out.append('<rect x="%d" y="30" width="12" height="12" fill="%s"/>' % (
            lx, COLORS.get(a, "#000")))
        out.append('<text x="%d" y="41" font-size="12">%s</text>' % (lx + 16, label))
        lx += 30 + 8 * len(label)
    out += p1 + p2 + ["</svg>", ""]
    return "\n".join(out)


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


# ---------------------------------------------------------------- main

def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def machine_info(srcdir, threads, mode, rounds, libs):
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    commit = run_quiet(["git", "-C", srcdir, "rev-parse", "--short", "HEAD"])
    commit = commit.stdout.strip() if commit.returncode == 0 else "none"
    dirty = run_quiet(["git", "-C", srcdir, "status", "--porcelain", "--", "src", "include"])
    if dirty.returncode == 0 and dirty.stdout.strip():
        commit += "+uncommitted"
    return {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
        "host": platform.node(), "cpu": cpu, "cores": os.cpu_count() or 1,
        "threads": threads, "kernel": platform.release(), "mode": mode, "rounds": rounds,
        "commit": commit, "libs": libs, "versions": package_versions(),
        "python": platform.python_version(), "loadavg_start": loadavg(),
    }


def self_test():
    """Checks the parsing, the refusal rules and the report writers on made-up
    runs (no workload is run). Returns 0 when all pass."""
    line = ("RESULT bench=fastpath size=16 iters=10 warmup=1 ops=10 secs=0.000001 "
            "ops_per_s=10000000 ns_per_op=100.000 allocs=12 maxrss_kb=1500 minflt=90 "
            "hakmem_nmalloc=%s allocator_lib=%s")
    hk, mi = "/x/.libs/libhakmem.so", LIBDIR + "/libmimalloc.so.2"
    cases = [
        # (nmalloc, allocator_lib, allocator, lib path, refused?)
        ("40", "libhakmem.so", "hakmem", hk, False),
        ("12", "libhakmem.so", "hakmem", hk, False),
        ("11", "libhakmem.so", "hakmem", hk, True),      # fewer than allocs
        ("-", "libhakmem.so", "hakmem", hk, True),       # no hakmem_ctl
        ("error:2", "libhakmem.so", "hakmem", hk, True),  # ctl failed
        ("40", "libc.so.6", "hakmem", hk, True),         # preload ignored
        ("-", "libmimalloc.so.2", "hakmem", mi, True),   # a peer passed off as hakmem
        ("-", "libmimalloc.so.2", "mimalloc", mi, False),
        ("40", "libmimalloc.so.2", "mimalloc", mi, True),  # hakmem ran instead
        ("-", "libc.so.6", "mimalloc", mi, True),        # preload ignored
        ("-", "libc.so.6", "glibc", None, False),
        ("-", "mixed:libc.so.6,libhakmem.so", "glibc", None, True),
    ]
    failures = 0
    for nm, lib, alloc, path, want in cases:
        res = parse_result("noise\n" + line % (nm, lib) + "\n")
        got = check_result(res, alloc, path, "fastpath")
        if (got is not None) != want:
            failures += 1
            print("FAIL: %s/%s/%s: refused=%r" % (alloc, nm, lib, got))
    for bad in ["", "RESULT bench=x ops=1", (line % ("-", "libc.so.6")).replace("ops=10", "ops=x"),
                (line % ("-", "libc.so.6")) + " stray"]:
        if parse_result(bad) is not None:
            failures += 1
            print("FAIL: parsed %r" % bad)
    if check_result(parse_result(line % ("-", "libc.so.6")), "glibc", None, "larson") is None:
        failures += 1
        print("FAIL: a fastpath line was accepted for larson")
    # the writers, on two rounds of made-up runs with one refused hakmem cell
    wls = workloads("quick", 2)
    runs = []
    for w in wls:
        for i, a in enumerate(ALLOCATOR_ORDER):
            for rnd in (1, 2):
                res = parse_result(line % ("99" if a == "hakmem" else "-", "x"))
                res["faults_per_op"] = 0.5
                res["maps_lines"], res["vmpte_kb"] = str(30 + rnd), "1800"
                res[w["metric"]] = 1000.0 * (i + rnd)
                refused = "made up" if (a == "hakmem" and w["name"] == "larson") else None
                runs.append({"workload": w["name"], "allocator": a, "result": res,
                             "refused": refused, "command": []})
    summary = summarize(wls, runs, ALLOCATOR_ORDER)
    instr = {"16": {a: {"per_pair": 50.0 + i} for i, a in enumerate(ALLOCATOR_ORDER)}}
    tgts = targets(wls, summary, instr, ALLOCATOR_ORDER)
    meta = {"mode": "quick", "date": "d", "host": "h", "cpu": "c", "cores": 2, "threads": 2,
            "kernel": "k", "rounds": 2, "commit": "none", "libs": {a: None for a in
                                                                    ALLOCATOR_ORDER},
            "loadavg_start": 0.1, "loadavg_end": 0.2, "elapsed_s": 1}
    # strace -c tables: with and without the errors column, a call missing
    st_full = ("% time     seconds  usecs/call     calls    errors syscall\n"
               "------ ----------- ----------- --------- --------- ----------------\n"
               " 60.00    0.000123          12      1210         3 mmap\n"
               "  0.00    0.000000           0         5           brk\n"
               " 40.00    0.000080          10      1008           munmap\n"
               "------ ----------- ----------- --------- --------- ----------------\n"
               "100.00    0.000203          11      2218         3 total\n")
    st_zero = st_full.replace("1210", "10").replace("1008", "8").replace("2218", "18")
    st_full = st_full.replace("   5           brk", "2005           brk")
    full, zero = parse_strace_counts(st_full), parse_strace_counts(st_zero)
    if full != {"mmap": 1210, "munmap": 1008, "mremap": 0, "brk": 2005,
                "madvise": 0} or zero is None:
        failures += 1
        print("FAIL: strace table parsed as %r / %r" % (full, zero))
        full = zero = {c: 0 for c in STRACE_CALLS}
    if parse_strace_counts("strace: exec failed\n") is not None:
        failures += 1
        print("FAIL: a strace output without a table was parsed")
    e = syscall_entry(full, zero, 2000)
    if e["per_1k"] != 1100.0 or e["mmap"] != 600.0 or e["brk"] != 1000.0:
        failures += 1
        print("FAIL: syscalls per 1,000 operations: %r" % e)
    syscalls = {w["name"]: {a: dict(e) for a in ALLOCATOR_ORDER}
                for w in wls if w.get("syscalls")}
    if syscalls:
        syscalls[sorted(syscalls)[0]]["glibc"] = {"refused": "made up"}
    md = markdown(meta, wls, summary, instr, tgts, [r for r in runs if r["refused"]],
                  ALLOCATOR_ORDER, syscalls)
    md_none = markdown(meta, wls, summary, instr, tgts, [], ALLOCATOR_ORDER, None)
    svg = svg_plot(meta, wls, summary, ALLOCATOR_ORDER)
    for what, ok in [("REFUSED in the table", "| larson | REFUSED |" in md),
                     ("refusal listed", "larson / hakmem: made up" in md),
                     ("targets table", "geometric mean of throughput ratios" in md),
                     ("svg closes", svg.rstrip().endswith("</svg>")),
                     ("refused in the plot", ">refused</text>" in svg),
                     ("syscalls table", "| malloc_large | 1100.0 (600.0 / 500.0 / 0.0) |" in md),
                     ("brk and madvise", "| malloc_large | 1000.0 / 0.0 |" in md),
                     ("syscalls refused", "| REFUSED |" in md.split("System calls")[-1]),
                     ("syscalls not measured", "Not measured" in md_none),
                     ("page-layer workloads in peak RSS",
                      all("| %s |" % n in md.split("## Peak RSS")[1].split("##")[0]
                          for n in ("malloc_large", "live_growth", "churn_mixed",
                                    "realloc_growth"))),
                     ("peak mappings", "| live_growth (maps_lines / vmpte_kb) | 32 / 1800 |"
                      in md)]:
        if not ok:
            failures += 1
            print("FAIL: report: %s" % what)
    print("self-test: %d passed, %d failed" % (len(cases) + 19 - failures, failures))
    return 1 if failures else 0


def render(path):
    """Recomputes the summary, targets, markdown and SVG of a results JSON."""
    with open(path) as f:
        data = json.load(f)
    meta, wls = data["meta"], data["workloads"]
    allocators = [a for a in ALLOCATOR_ORDER if a in meta["libs"]]
    runs = data["runs"]
    refusals = [r for r in runs + data.get("strace_runs", []) + data.get("callgrind_runs", [])
                if r["refused"]]
    data["summary"] = summarize(wls, runs, allocators)
    data["targets"] = targets(wls, data["summary"], data["instructions"], allocators)
    base = path[:-5] if path.endswith(".json") else path
    write_atomic(path, json.dumps(data, indent=1) + "\n")
    write_atomic(base + ".md", markdown(meta, wls, data["summary"], data["instructions"],
                                        data["targets"], refusals, allocators,
                                        data.get("syscalls")))
    write_atomic(base + ".svg", svg_plot(meta, wls, data["summary"], allocators))
    log("bench: rewrote %s.{json,md,svg}" % base)
    return 0


def runner_parser(doc, outfiles, holds=".libs/libhakmem.so"):
    """The argument parser of a runner beside this one (rss_timeline.py,
    programs.py, glibc_thread.py): its --builddir and --out."""
    srcdir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--builddir", default=os.getcwd(),
                    help="top build directory, holding %s (default: the current directory)"
                    % holds)
    ap.add_argument("--out", default=os.path.join(srcdir, "bench", "results"),
                    help="directory for %s (default: bench/results in the source tree)"
                    % outfiles)
    return ap


def self_test_verdict(name, failures):
    """Prints a runner's self-test failures and verdict; its exit status."""
    for f in failures:
        print("FAIL: " + f)
    print("%s self-test: %d failed" % (name, len(failures)))
    return 1 if failures else 0


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    srcdir = os.path.dirname(here)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mode", choices=["quick", "full"], default="quick",
                    help="quick: < 2 minutes; full: longer runs (default quick)")
    ap.add_argument("--rounds", type=int, default=5, help="rounds per workload (default 5)")
    ap.add_argument("--builddir", default=os.getcwd(),
                    help="top build directory, holding bench/* and .libs/libhakmem.so")
    ap.add_argument("--out", default=os.path.join(srcdir, "bench", "results"),
                    help="directory for MODE.json, MODE.md, MODE.svg")
    ap.add_argument("--hakmem-lib", help="the hakmem library to preload "
                    "(default BUILDDIR/.libs/libhakmem.so); giving a peer here exercises "
                    "the refusal checks")
    ap.add_argument("--allocators", default=",".join(ALLOCATOR_ORDER),
                    help="comma-separated subset of %s" % ",".join(ALLOCATOR_ORDER))
    ap.add_argument("--only", help="comma-separated workload names or prefixes "
                    "(e.g. random_mixed,larson)")
    ap.add_argument("--threads", type=int,
                    help="threads for the multi-threaded workloads (default: max(2, cores))")
    ap.add_argument("--no-install", action="store_true", help="never run apt-get")
    ap.add_argument("--no-callgrind", action="store_true", help="skip instruction counts")
    ap.add_argument("--no-strace", action="store_true",
                    help="skip the mmap/munmap/mremap counts of the page-layer workloads")
    ap.add_argument("--timeout", type=int, help="seconds per run (default 120 quick, 600 full)")
    ap.add_argument("--list", action="store_true", help="print the workload commands and exit")
    ap.add_argument("--self-test", action="store_true",
                    help="check the parsing, refusal rules and report writers, then exit")
    ap.add_argument("--render", metavar="JSON",
                    help="rewrite the .md and .svg beside a results JSON from its runs, "
                    "without running anything")
    args = ap.parse_args(argv)
    if args.self_test:
        return self_test()
    if args.render:
        return render(args.render)
    args.allocators = [a for a in args.allocators.split(",") if a]
    for a in args.allocators:
        if a not in ALLOCATOR_ORDER:
            ap.error("unknown allocator %s" % a)
    args.builddir = os.path.abspath(args.builddir)
    if args.hakmem_lib is None:
        args.hakmem_lib = os.path.join(args.builddir, ".libs", "libhakmem.so")
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    threads = args.threads or max(2, cores)
    timeout = args.timeout or (120 if args.mode == "quick" else 600)

    wls = workloads(args.mode, threads)
    if args.only:
        keys = [k for k in args.only.split(",") if k]
        wls = [w for w in wls if any(w["name"] == k or w["name"].startswith(k) for k in keys)]
        if not wls:
            ap.error("--only %s matches no workload" % args.only)
    if args.list:
        for w in wls:
            print("%-24s bench/%s %s%s" % (w["name"], w["program"], " ".join(w["args"]),
                                           "  (strace, zero run: %s)" % " ".join(w["zero_args"])
                                           if w.get("syscalls") else ""))
        return 0
    for prog in sorted({w["program"] for w in wls} | {"fastpath"}):
        path = os.path.join(args.builddir, "bench", prog)
        if not os.access(path, os.X_OK):
            log("bench: %s is not built (run make in %s first)" % (path, args.builddir))
            return 1

    libs = setup_allocators(args)
    if "hakmem" in libs and not os.path.exists(libs["hakmem"]):
        log("bench: %s does not exist; every hakmem run will be refused" % libs["hakmem"])
    allocators = [a for a in ALLOCATOR_ORDER if a in libs]
    if BASELINE not in allocators:
        log("bench: mimalloc is not available; the ratios need it as the baseline")
        return 1
    use_callgrind = not args.no_callgrind and shutil.which("valgrind")
    if not args.no_callgrind and not use_callgrind:
        log("bench: valgrind not found; instruction counts are skipped")
    strace_prefix = None
    strace_note = "skipped (--no-strace)" if args.no_strace else "none of these workloads"
    if not args.no_strace and any(w.get("syscalls") for w in wls):
        strace_prefix = strace_command()
        if strace_prefix is None:
            strace_note = ("strace not found" if not shutil.which("strace")
                           else "strace cannot trace here (ptrace not permitted?)")
            log("bench: %s; the system call counts are skipped" % strace_note)

    meta = machine_info(srcdir, threads, args.mode, args.rounds, libs)
    meta["strace"] = " ".join(strace_prefix) if strace_prefix else strace_note
    log("bench: %s mode, %d rounds, %d workloads x %d allocators (%s), %d threads" % (
        args.mode, args.rounds, len(wls), len(allocators), " ".join(allocators), threads))
    t_start = time.monotonic()
    runs = []
    for rnd in range(1, args.rounds + 1):
        for wi, w in enumerate(wls):
            prog = os.path.join(args.builddir, "bench", w["program"])
            cells = []
            for a in run_order(allocators, rnd, wi):
                rec = run_one([prog] + w["args"], a, libs[a], w["program"], timeout)
                rec.update(round=rnd, workload=w["name"])
                runs.append(rec)
                if rec["refused"]:
                    cells.append("%s REFUSED" % a)
                else:
                    v = rec["result"][w["metric"]]
                    cells.append("%s %s" % (a, fmt_rate(v) if w["metric"] == "ops_per_s"
                                            else fmt_ns(v)))
            log("round %d/%d %-22s %s" % (rnd, args.rounds, w["name"], "  ".join(cells)))
    syscalls, st_runs = None, []
    if strace_prefix:
        syscalls, st_runs = count_syscalls(args.builddir, wls, libs, strace_prefix, timeout)
    instr, cg_runs = {}, []
    if use_callgrind:
        instr, cg_runs = count_instructions(args.builddir, libs, timeout)

    summary = summarize(wls, runs, allocators)
    tgts = targets(wls, summary, instr, allocators)
    refusals = [r for r in runs + st_runs + cg_runs if r["refused"]]
    meta["elapsed_s"] = round(time.monotonic() - t_start, 1)
    meta["loadavg_end"] = loadavg()
    data = {"meta": meta, "workloads": wls, "summary": summary, "instructions": instr,
            "targets": tgts, "refused": [{"workload": r.get("workload", "callgrind"),
                                          "allocator": r["allocator"], "reason": r["refused"],
                                          "command": r["command"]} for r in refusals],
            "syscalls": syscalls, "runs": runs, "strace_runs": st_runs,
            "callgrind_runs": cg_runs}
    os.makedirs(args.out, exist_ok=True)
    base = os.path.join(args.out, args.mode)
    md = markdown(meta, wls, summary, instr, tgts, refusals, allocators, syscalls)
    write_atomic(base + ".json", json.dumps(data, indent=1, sort_keys=False) + "\n")
    write_atomic(base + ".md", md)
    write_atomic(base + ".svg", svg_plot(meta, wls, summary, allocators))
    print(md)
    log("bench: %.0f s; wrote %s.{json,md,svg}" % (meta["elapsed_s"], base))
    if refusals:
        log("bench: REFUSED %d run(s); first: %s / %s: %s" % (
            len(refusals), refusals[0].get("workload", "callgrind"), refusals[0]["allocator"],
            refusals[0]["refused"]))
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
