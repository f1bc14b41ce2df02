#!/usr/bin/env python3
"""rss_timeline.py - RSS over time under hakmem and the peers, as a plot.

Runs bench/rss_timeline (see its header: phases of small, mid and large
blocks, each followed by an idle period, then steady small traffic) once per
allocator: hakmem (LD_PRELOAD of BUILDDIR/.libs/libhakmem.so), glibc (nothing
preloaded), jemalloc, mimalloc, tcmalloc (LD_PRELOAD of their libraries in
/usr/lib/x86_64-linux-gnu; missing ones are installed as bench/run.py does,
or left out with a message). Each run is checked like bench/run.py's
(allocator_lib is the preloaded library, hakmem_nmalloc is a number for
hakmem and "-" for the peers) and refused otherwise.

Writes OUT/rss_timeline.json (every sample of every run), .md (the RSS at the
end of each idle phase, ratios to glibc and mimalloc, peak, and the target
"RSS back within 1.1x glibc's after decay_ms + 1 s" with PASS/FAIL per phase)
and .svg (RSS in MiB against time in s, one line per allocator, the
program's live data dashed, phase boundaries marked).

--conf STRING is given to hakmem as HAKMEM_CONF (hakmem's start-up conf
string, e.g. decay_ms=500); an inherited HAKMEM_CONF is removed from every
run. Run it from the build directory:

    python3 ../bench/rss_timeline.py [--allocators hakmem,glibc,...] [--out DIR]

Standard library only; the allocator set-up and the run checks are
bench/run.py's (imported, not run). Exit status: 0, 2 when a run was refused,
1 on a setup error.
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(HERE)


# bench/run.py: the allocator set-up and checks shared by the runners (it only
# defines things at import time).
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # nothing written into the source tree
import run as R  # noqa: E402

PROGRAM = "rss_timeline"
# the points the report compares: (result key, live key, label)
POINTS = [
    ("idle_small_end_kb", "live_idle_small_end_kb", "idle_small end"),
    ("idle_mid_end_kb", "live_idle_mid_end_kb", "idle_mid end"),
    ("idle_large_end_kb", "live_idle_large_end_kb", "idle_large end"),
    ("steady_end_kb", "live_steady_end_kb", "steady end"),
]
INT_KEYS = ["idle_ms", "steady_ms", "sample_ms", "base_kb", "peak_kb", "peak_live_kb",
            "samples", "samples_dropped", "end_ms", "idle_small_start_kb", "idle_mid_start_kb",
            "idle_large_start_kb"] + [k for p in POINTS for k in p[:2]]
TARGET_RATIO = 1.10
DEFAULT_DECAY_MS = 1000   # src/conf.c: decay_ms
LIVE_COLOR = "#000000"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- one run

def parse_output(text):
    """(samples, phases, result): the SAMPLE lines as [t_ms, rss_kb, phase,
    live_kb], the PHASE lines as dicts, the RESULT line (run.py's parser, the
    workload's own keys as ints) or None when a line does not parse."""
    samples, phases = [], []
    for line in text.splitlines():
        if not (line.startswith("SAMPLE ") or line.startswith("PHASE ")):
            continue
        kv = dict(tok.split("=", 1) for tok in line.split()[1:] if "=" in tok)
        try:
            rec = [int(kv["t_ms"]), int(kv["rss_kb"]), kv["phase"], int(kv["live_kb"])]
        except (KeyError, ValueError):
            return samples, phases, None
        if line.startswith("SAMPLE "):
            samples.append(rec)
        else:
            phases.append({"t_ms": rec[0], "rss_kb": rec[1], "phase": rec[2],
                           "live_kb": rec[3]})
    res = R.parse_result(text)
    if res is not None:
        try:
            for k in INT_KEYS:
                res[k] = int(res[k])
        except (KeyError, ValueError):
            res = None
    return samples, phases, res


def run_env(lib_path, conf):
    env = R.make_env(lib_path)
    env.pop("HAKMEM_CONF", None)
    if conf is not None:
        env["HAKMEM_CONF"] = conf
    return env


def run_allocator(cmd, name, lib_path, conf, timeout):
    """One run: its record, with the refusal reason (None when it is valid)."""
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=timeout,
                           env=run_env(lib_path, conf if name == "hakmem" else None))
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired:
        rc, out, err = "timeout", "", "timed out after %d s" % timeout
    except OSError as e:
        rc, out, err = "oserror", "", str(e)
    samples, phases, res = parse_output(out) if rc == 0 else ([], [], None)
    if rc != 0:
        reason = "exit status %s: %s" % (rc, (err or "").strip()[-300:])
    elif res is None:
        reason = "no parseable RESULT line (or a SAMPLE/PHASE line or a key is missing)"
    else:
        reason = R.check_result(res, name, lib_path, PROGRAM)
    if reason is None and not samples:
        reason = "no SAMPLE lines"
    return {"allocator": name, "command": cmd, "lib": lib_path,
            "conf": conf if name == "hakmem" else None, "rc": rc,
            "wall_s": round(time.monotonic() - t0, 3), "refused": reason, "result": res,
            "phases": phases, "samples": samples, "stderr": (err or "")[-2000:]}


# ---------------------------------------------------------------- analysis

def conf_decay_ms(conf):
    """decay_ms as the conf string sets it (the last setting wins), or the default."""
    decay = DEFAULT_DECAY_MS
    for item in (conf or "").split(","):
        k, _, v = item.strip().partition("=")
        if k.strip() in ("decay_ms", "opt.decay_ms"):
            try:
                decay = int(v)
            except ValueError:
                pass
    return decay


def valid_runs(runs):
    return {r["allocator"]: r for r in runs if not r["refused"]}


def ratio(a, b):
    return None if a is None or not b else float(a) / b


def targets(runs, decay_ms):
    """Per point: hakmem's RSS against 1.1x glibc's, PASS/FAIL/n/a."""
    ok = valid_runs(runs)
    h, g = ok.get("hakmem"), ok.get("glibc")
    out = []
    for key, _, label in POINTS:
        t = {"point": label, "key": key, "hakmem_kb": None, "glibc_kb": None, "ratio": None}
        if h is None or g is None:
            t["status"] = "FAIL"
            t["note"] = "not measured (%s)" % ("hakmem" if h is None else "glibc")
            out.append(t)
            continue
        t["hakmem_kb"], t["glibc_kb"] = h["result"][key], g["result"][key]
        t["ratio"] = ratio(t["hakmem_kb"], t["glibc_kb"])
        dwell = h["result"]["steady_ms" if key == "steady_end_kb" else "idle_ms"]
        if decay_ms < 0:
            t["status"], t["note"] = "n/a", "decay_ms=%d: hakmem never decays" % decay_ms
        elif dwell < decay_ms + 1000:
            t["status"] = "n/a"
            t["note"] = "%d ms < decay_ms + 1 s = %d ms" % (dwell, decay_ms + 1000)
        else:
            t["status"] = "PASS" if t["ratio"] is not None and t["ratio"] <= TARGET_RATIO \
                else "FAIL"
            t["note"] = "%d ms after the frees" % dwell
        out.append(t)
    return out


def phase_starts(runs):
    """{phase: median start in ms over the valid runs}, in phase order."""
    starts = {}
    for r in valid_runs(runs).values():
        for p in r["phases"]:
            starts.setdefault(p["phase"], []).append(p["t_ms"])
    order = []
    for r in valid_runs(runs).values():
        order = [p["phase"] for p in r["phases"]]
        break
    return [(ph, statistics.median(starts[ph])) for ph in order]


# ---------------------------------------------------------------- report

def mib(kb):
    return "-" if kb is None else "%.1f" % (kb / 1024.0)


def fmt_ratio(v):
    return "-" if v is None else "%.2f" % v


def markdown(meta, runs, tgts):
    ok = valid_runs(runs)
    A = [r["allocator"] for r in runs]
    L = ["# RSS over time (bench/rss_timeline)", ""]
    L.append("- date: %s; host: %s, %s, %d cores; kernel %s" % (
        meta["date"], meta["host"], meta["cpu"], meta["cores"], meta["kernel"]))
    L.append("- hakmem: %s (commit %s); HAKMEM_CONF: %s" % (
        meta["libs"].get("hakmem"), meta["commit"],
        "`%s`" % meta["conf"] if meta["conf"] else "none (defaults)"))
    vers = meta.get("versions", {})
    for n, pkg, _ in R.PEERS:
        if n in meta["libs"]:
            v = vers.get(pkg or "libc6")
            L.append("- %s: %s%s" % (n, meta["libs"][n] or "libc.so.6 (no preload)",
                                     " (%s %s)" % (pkg or "libc6", v) if v else ""))
    L.append("- command: `%s`, once per allocator, one after the other; 1-minute load "
             "average %s at the start, %s at the end" % (
                 " ".join(["bench/" + PROGRAM] + meta["args"]), meta.get("loadavg_start"),
                 meta.get("loadavg_end")))
    L.append("")
    refused = [r for r in runs if r["refused"]]
    if refused:
        L.append("**REFUSED: %d run(s) failed their checks and are left out:**" % len(refused))
        L.append("")
        for r in refused:
            L.append("- %s: %s" % (r["allocator"], r["refused"]))
        L.append("")
    L.append("![RSS over time](rss_timeline.svg)")
    L.append("")
    L.append("## Target: RSS back within %.1fx glibc's after decay_ms + 1 s" % TARGET_RATIO)
    L.append("")
    L.append("hakmem's RSS at the end of each idle phase (and of the steady traffic, which "
             "follows the last frees) against 1.1x glibc's; decay_ms = %d%s, so the check "
             "applies from %d ms after the frees." % (
                 meta["decay_ms"], " (from HAKMEM_CONF)" if meta["conf"] and
                 "decay_ms" in meta["conf"] else " (hakmem's default)",
                 meta["decay_ms"] + 1000))
    L.append("")
    L.append("| point | hakmem MiB | glibc MiB | hakmem / glibc | status | |")
    L.append("| --- | ---: | ---: | ---: | --- | --- |")
    for t in tgts:
        L.append("| %s | %s | %s | %s | %s | %s |" % (
            t["point"], mib(t["hakmem_kb"]), mib(t["glibc_kb"]), fmt_ratio(t["ratio"]),
            t["status"], t["note"]))
    L.append("")
    L.append("## RSS at the end of each phase")
    L.append("")
    L.append("MiB (ratio to glibc's / to mimalloc's). `live data` is what the program holds "
             "at that moment (its blocks and arrays, as requested from malloc; under peak: "
             "the most it ever held); peak is VmHWM, the peak RSS.")
    L.append("")
    L.append("| allocator | " + " | ".join(p[2] for p in POINTS) + " | peak |")
    L.append("| --- | " + " | ".join("---:" for _ in POINTS) + " | ---: |")
    any_run = next(iter(ok.values()), None)
    if any_run:
        res = any_run["result"]
        L.append("| live data | %s | %s |" % (
            " | ".join(mib(res[p[1]]) for p in POINTS), mib(res["peak_live_kb"])))
    g, m = ok.get("glibc"), ok.get("mimalloc")
    for a in A:
        r = ok.get(a)
        if r is None:
            L.append("| %s | %s | REFUSED |" % (a, " | ".join("REFUSED" for _ in POINTS)))
            continue
        cells = []
        for key in [p[0] for p in POINTS] + ["peak_kb"]:
            v = r["result"][key]
            rg = ratio(v, g["result"][key]) if g else None
            rm = ratio(v, m["result"][key]) if m else None
            cells.append("%s (%s / %s)" % (mib(v), fmt_ratio(rg), fmt_ratio(rm)))
        L.append("| %s | %s |" % (a, " | ".join(cells)))
    L.append("")
    L.append("VmRSS before the first allocation: %s MiB." % ", ".join(
        "%s %s" % (a, mib(ok[a]["result"]["base_kb"])) for a in A if a in ok))
    L.append("")
    L.append("## The idle phases, start to end (MiB)")
    L.append("")
    L.append("VmRSS right after the frees and at the end of the idle period: what the "
             "allocator gave back while the program made no allocator call.")
    L.append("")
    L.append("| allocator | idle_small | idle_mid | idle_large |")
    L.append("| --- | ---: | ---: | ---: |")
    for a in A:
        r = ok.get(a)
        if r is None:
            continue
        res = r["result"]
        L.append("| %s | %s |" % (a, " | ".join(
            "%s → %s" % (mib(res[ph + "_start_kb"]), mib(res[ph + "_end_kb"]))
            for ph in ("idle_small", "idle_mid", "idle_large"))))
    L.append("")
    L.append("## Reading the plot")
    L.append("")
    L.append("One line per allocator: VmRSS sampled every %d ms. The dashed black line "
             "is the program's live data. Dashed vertical lines mark the start of each "
             "phase (the median over the runs; allocation speeds move them by a few "
             "tens of ms). An allocator that gives memory back drops during the idle "
             "phases (hakmem after decay_ms); one whose line stays flat through an idle "
             "phase keeps the freed memory until the program allocates again, or for "
             "good." % meta["sample_ms"])
    L.append("")
    return "\n".join(L)


def nice_step(span, target_ticks):
    raw = span / float(max(target_ticks, 1))
    mag = 10 ** len(str(int(raw))) / 10.0 if raw >= 1 else 1.0
    for m in (1, 2, 2.5, 5, 10):
        if m * mag >= raw:
            return m * mag
    return 10 * mag


def svg_plot(meta, runs):
    esc = R.svg_escape
    ok = valid_runs(runs)
    width, height = 1100, 560
    left, right, top, bottom = 70, 190, 50, 60
    pw, ph = width - left - right, height - top - bottom
    t_max = max([1000] + [s[0] for r in ok.values() for s in r["samples"]]) / 1000.0
    y_max = max([1024] + [s[1] for r in ok.values() for s in r["samples"]]
                + [r["result"]["peak_kb"] for r in ok.values()]) / 1024.0
    ystep = nice_step(y_max, 8)
    y_top = ystep * math.ceil(y_max * 1.1 / ystep)   # headroom for the phase labels
    xstep = nice_step(t_max, 12)
    x_end = xstep * (int(t_max / xstep) + (0 if t_max % xstep == 0 else 1))

    def X(t_s):
        return left + pw * t_s / x_end

    def Y(v_mib):
        return top + ph * (1 - v_mib / y_top)

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="sans-serif">' % (width, height),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="22" font-size="15" font-weight="bold">RSS over time, '
           'bench/rss_timeline (hakmem %s%s)</text>' % (
               left, esc(meta["commit"]), ", HAKMEM_CONF=" + esc(meta["conf"])
               if meta["conf"] else ""),
           '<text x="%d" y="38" font-size="11" fill="#555">%s, %s; VmRSS every %d ms; '
           'idle phases %d ms, steady %d ms</text>' % (
               left, esc(meta["date"]), esc(meta["cpu"]), meta["sample_ms"],
               meta["idle_ms"], meta["steady_ms"])]
    # phase boundaries: a dashed line at each start; idle phases shaded; a
    # label across the phase where it fits, else turned along the line
    starts = phase_starts(runs)
    for i, (name, t_ms) in enumerate(starts):
        x = X(t_ms / 1000.0)
        x_next = X(starts[i + 1][1] / 1000.0) if i + 1 < len(starts) else X(t_max)
        if name.startswith("idle"):
            out.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="#f3f3f3"/>' % (
                x, top, max(x_next - x, 0), ph))
        out.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#888" '
                   'stroke-dasharray="4,4"/>' % (x, x, top, top + ph))
        if x_next - x >= 7 * len(name) + 8:
            out.append('<text x="%.1f" y="%d" font-size="11" fill="#444" '
                       'text-anchor="middle">%s</text>' % ((x + x_next) / 2, top + 14, esc(name)))
        else:
            out.append('<text x="%.1f" y="%d" font-size="10" fill="#444" '
                       'transform="rotate(90 %.1f %d)">%s</text>' % (
                           x + 3, top + 24, x + 3, top + 24, esc(name)))
    # grid, ticks, axes
    v = 0.0
    while v <= y_top + 1e-9:
        y = Y(v)
        out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#e5e5e5"/>' % (
            left, left + pw, y, y))
        out.append('<text x="%d" y="%.1f" font-size="11" text-anchor="end">%g</text>' % (
            left - 6, y + 4, v))
        v += ystep
    t = 0.0
    while t <= x_end + 1e-9:
        x = X(t)
        out.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#000"/>' % (
            x, x, top + ph, top + ph + 5))
        out.append('<text x="%.1f" y="%d" font-size="11" text-anchor="middle">%g</text>' % (
            x, top + ph + 18, t))
        t += xstep
    out.append('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="#000"/>' % (
        left, left + pw, top + ph, top + ph))
    out.append('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="#000"/>' % (
        left, left, top, top + ph))
    out.append('<text x="%.1f" y="%d" font-size="12" text-anchor="middle">time (s)</text>' % (
        left + pw / 2.0, height - 18))
    out.append('<text x="18" y="%.1f" font-size="12" text-anchor="middle" '
               'transform="rotate(-90 18 %.1f)">RSS (MiB)</text>' % (
                   top + ph / 2.0, top + ph / 2.0))
    # the program's live data (the same under every allocator: one run's)
    live_run = ok.get("glibc") or next(iter(ok.values()), None)
    if live_run:
        pts = " ".join("%.1f,%.1f" % (X(s[0] / 1000.0), Y(s[3] / 1024.0))
                       for s in live_run["samples"])
        out.append('<polyline points="%s" fill="none" stroke="%s" stroke-width="1.2" '
                   'stroke-dasharray="6,3"><title>live data</title></polyline>' % (
                       pts, LIVE_COLOR))
    for a, r in ok.items():
        pts = " ".join("%.1f,%.1f" % (X(s[0] / 1000.0), Y(s[1] / 1024.0)) for s in r["samples"])
        out.append('<polyline points="%s" fill="none" stroke="%s" stroke-width="2" '
                   'stroke-linejoin="round"><title>%s</title></polyline>' % (
                       pts, R.COLORS.get(a, "#000"), esc(a)))
    # legend, right of the plot
    lx, ly = left + pw + 20, top + 10
    for a in [r["allocator"] for r in runs]:
        label = a if a in ok else a + " (refused)"
        out.append('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="3"/>' % (
            lx, lx + 24, ly, ly, R.COLORS.get(a, "#000")))
        out.append('<text x="%d" y="%d" font-size="12">%s</text>' % (lx + 30, ly + 4,
                                                                     esc(label)))
        ly += 20
    out.append('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="1.2" '
               'stroke-dasharray="6,3"/>' % (lx, lx + 24, ly, ly, LIVE_COLOR))
    out.append('<text x="%d" y="%d" font-size="12">live data</text>' % (lx + 30, ly + 4))
    out += ["</svg>", ""]
    return "\n".join(out)


def write_reports(data, out_dir):
    base = os.path.join(out_dir, PROGRAM)
    md = markdown(data["meta"], data["runs"], data["targets"])
    R.write_atomic(base + ".json", json.dumps(data, indent=1) + "\n")
    R.write_atomic(base + ".md", md)
    R.write_atomic(base + ".svg", svg_plot(data["meta"], data["runs"]))
    return base, md


# ---------------------------------------------------------------- self-test

def self_test():
    """The parser, the checks' use and the writers on made-up runs."""
    failures = []

    def fake(name, lib, nm, scale):
        samples = [[t * 50, int((1 + (t % 7)) * 10240 * scale), "idle_small", 2048]
                   for t in range(40)]
        keys = {k: 1000 for k in INT_KEYS}
        keys.update(idle_ms=2500, steady_ms=2000, sample_ms=50)
        for k, _, _ in POINTS:
            keys[k] = int(100000 * scale)
        line = "RESULT bench=rss_timeline %s ops=5 secs=1.0 ops_per_s=5 ns_per_op=2 allocs=5 " \
               "maxrss_kb=9 minflt=1 hakmem_nmalloc=%s allocator_lib=%s" % (
                   " ".join("%s=%d" % kv for kv in sorted(keys.items())), nm, lib)
        text = "PHASE t_ms=0 rss_kb=1 phase=small live_kb=0\n" + "\n".join(
            "SAMPLE t_ms=%d rss_kb=%d phase=%s live_kb=%d" % tuple(s) for s in samples) + \
            "\n" + line + "\n"
        s, p, res = parse_output(text)
        reason = R.check_result(res, name, lib_paths[name], PROGRAM) if res else "unparsed"
        return {"allocator": name, "refused": reason, "result": res, "phases": p,
                "samples": s, "command": []}

    lib_paths = {"hakmem": "/x/.libs/libhakmem.so", "glibc": None,
                 "mimalloc": R.LIBDIR + "/libmimalloc.so.2"}
    runs = [fake("hakmem", "libhakmem.so", "7", 2.0), fake("glibc", "libc.so.6", "-", 1.0),
            fake("mimalloc", "libmimalloc.so.2", "-", 0.5)]
    for r in runs:
        if r["refused"] or len(r["samples"]) != 40 or len(r["phases"]) != 1:
            failures.append("%s: refused=%r samples=%d" % (r["allocator"], r["refused"],
                                                           len(r["samples"])))
    if fake("hakmem", "libc.so.6", "7", 1.0)["refused"] is None:
        failures.append("a hakmem run served by glibc was accepted")
    if fake("hakmem", "libhakmem.so", "-", 1.0)["refused"] is None:
        failures.append("a hakmem run without hakmem_nmalloc was accepted")
    if fake("mimalloc", "libmimalloc.so.2", "7", 1.0)["refused"] is None:
        failures.append("a mimalloc run with hakmem_nmalloc was accepted")
    if conf_decay_ms("a=1,decay_ms=500") != 500 or conf_decay_ms(None) != DEFAULT_DECAY_MS:
        failures.append("conf_decay_ms")
    tg = targets(runs, 1000)
    if [t["status"] for t in tg] != ["FAIL"] * 4 or abs(tg[0]["ratio"] - 2.0) > 1e-9:
        failures.append("targets: %r" % tg)
    if targets(runs, 2000)[0]["status"] != "n/a":
        failures.append("a 2.5 s idle phase was checked against decay_ms=2000")
    runs[0]["result"]["idle_mid_end_kb"] = 105000
    if targets(runs, 1000)[1]["status"] != "PASS":
        failures.append("1.05x glibc is not a PASS")
    meta = {"date": "d", "host": "h", "cpu": "c", "cores": 2, "kernel": "k", "commit": "none",
            "libs": lib_paths, "conf": None, "decay_ms": 1000, "args": ["2500", "2000", "42"],
            "sample_ms": 50, "idle_ms": 2500, "steady_ms": 2000}
    md = markdown(meta, runs, targets(runs, 1000))
    svg = svg_plot(meta, runs)
    for what, good in [("target table", "| idle_mid end | 102.5 | 97.7 | 1.05 | PASS |" in md),
                       ("ratios", "| hakmem | 195.3 (2.00 / 4.00) |" in md),
                       ("svg closes", svg.rstrip().endswith("</svg>")),
                       ("three lines and the live data", svg.count("<polyline") == 4),
                       ("phase marked", ">small</text>" in svg)]:
        if not good:
            failures.append("report: " + what)
    return R.self_test_verdict("rss_timeline", failures)


# ---------------------------------------------------------------- main

def main(argv):
    ap = R.runner_parser(__doc__, "rss_timeline.{json,md,svg}", "bench/rss_timeline and .libs/libhakmem.so")
    ap.add_argument("--allocators", default=",".join(R.ALLOCATOR_ORDER),
                    help="comma-separated subset of %s" % ",".join(R.ALLOCATOR_ORDER))
    ap.add_argument("--hakmem-lib", help="the hakmem library to preload "
                    "(default BUILDDIR/.libs/libhakmem.so)")
    ap.add_argument("--hakmem-label", help="what that library was built from, shown in the "
                    "report instead of the source tree's commit (e.g. 'abc1234, clean "
                    "build')")
    ap.add_argument("--conf", help="hakmem's start-up conf string (HAKMEM_CONF) for the "
                    "hakmem run, e.g. decay_ms=500")
    ap.add_argument("--idle-ms", type=int, default=2500, help="each idle phase (default 2500)")
    ap.add_argument("--steady-ms", type=int, default=2000,
                    help="the steady traffic (default 2000)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--sizes", default="200,150,40",
                    help="SMALL_MIB,MID_MIB,LARGE_COUNT (default 200,150,40)")
    ap.add_argument("--sample-ms", type=int, default=50, help="sampling period (default 50)")
    ap.add_argument("--timeout", type=int, default=180, help="seconds per run (default 180)")
    ap.add_argument("--no-install", action="store_true", help="never run apt-get")
    ap.add_argument("--render", metavar="JSON", help="rewrite the .md and .svg beside a "
                    "results JSON from its runs, without running anything")
    ap.add_argument("--self-test", action="store_true",
                    help="check the parser, the run checks and the writers on made-up runs")
    args = ap.parse_args(argv)
    if args.self_test:
        return self_test()
    if args.render:
        with open(args.render) as f:
            data = json.load(f)
        data["targets"] = targets(data["runs"], data["meta"]["decay_ms"])
        base, _ = write_reports(data, os.path.dirname(os.path.abspath(args.render)))
        log("rss_timeline: rewrote %s.{json,md,svg}" % base)
        return 0

    args.allocators = [a for a in args.allocators.split(",") if a]
    for a in args.allocators:
        if a not in R.ALLOCATOR_ORDER:
            ap.error("unknown allocator %s" % a)
    sizes = args.sizes.split(",")
    if len(sizes) != 3 or not all(s.isdigit() for s in sizes):
        ap.error("--sizes wants SMALL_MIB,MID_MIB,LARGE_COUNT")
    args.builddir = os.path.abspath(args.builddir)
    if args.hakmem_lib is None:
        args.hakmem_lib = os.path.join(args.builddir, ".libs", "libhakmem.so")
    prog = os.path.join(args.builddir, "bench", PROGRAM)
    if not os.access(prog, os.X_OK):
        log("rss_timeline: %s is not built (make in %s first)" % (prog, args.builddir))
        return 1
    setup = argparse.Namespace(allocators=args.allocators, no_install=args.no_install,
                               no_callgrind=True, no_strace=True, hakmem_lib=args.hakmem_lib)
    libs = R.setup_allocators(setup)
    if "hakmem" in libs and not os.path.exists(libs["hakmem"]):
        log("rss_timeline: %s does not exist; the hakmem run will be refused" % libs["hakmem"])
    allocators = [a for a in R.ALLOCATOR_ORDER if a in libs]
    if not allocators:
        log("rss_timeline: no allocator to run")
        return 1
    prog_args = [str(args.idle_ms), str(args.steady_ms), str(args.seed)] + sizes + [
        str(args.sample_ms)]
    meta = R.machine_info(SRCDIR, 1, PROGRAM, 1, libs)
    if args.hakmem_label:
        meta["commit"] = args.hakmem_label
    meta.update(conf=args.conf, decay_ms=conf_decay_ms(args.conf), args=prog_args,
                idle_ms=args.idle_ms, steady_ms=args.steady_ms, sample_ms=args.sample_ms)
    if meta["decay_ms"] >= 0 and args.idle_ms < meta["decay_ms"] + 1000:
        log("rss_timeline: --idle-ms %d is shorter than decay_ms + 1 s (%d ms): the idle "
            "phases are not checked" % (args.idle_ms, meta["decay_ms"] + 1000))
    runs = []
    for a in allocators:
        rec = run_allocator([prog] + prog_args, a, libs[a], args.conf, args.timeout)
        runs.append(rec)
        if rec["refused"]:
            log("rss_timeline: %-9s REFUSED: %s" % (a, rec["refused"]))
        else:
            res = rec["result"]
            log("rss_timeline: %-9s %.1f s; MiB at idle_small/idle_mid/idle_large/steady end: "
                "%s; peak %s" % (a, rec["wall_s"], " / ".join(mib(res[p[0]]) for p in POINTS),
                                 mib(res["peak_kb"])))
    meta["loadavg_end"] = R.loadavg()
    data = {"meta": meta, "targets": targets(runs, meta["decay_ms"]), "runs": runs}
    os.makedirs(args.out, exist_ok=True)
    base, md = write_reports(data, args.out)
    print(md)
    log("rss_timeline: wrote %s.{json,md,svg}" % base)
    return 2 if any(r["refused"] for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
