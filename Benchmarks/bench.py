#!/usr/bin/env python3
"""deferwatch analyze (report, --events, --alerts, --queue) and deferwatch trace side by side with
pflogsumm, eximstats and `LC_ALL=C grep -c` (issue 7).

Generates the workloads with genlog.py (cached in bench-data/), then runs every command once
per round, the commands alternating round robin, and reports the fastest of the rounds (and
the median) as lines per second, with CPU seconds and peak RSS from /usr/bin/time. Normally
started by scripts/bench, which builds deferwatch and fetches the peers."""

import argparse
import hashlib
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.dont_write_bytecode = True      # no __pycache__ in the repository
sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as bl  # noqa: E402

ROOT = bl.ROOT


@dataclass
class Workload:
    name: str
    title: str
    genlog: list          # genlog.py arguments, without --lines and --out
    lines: int            # full size; --quick takes a tenth
    grep: list            # fixed strings for the grep floor
    peers: list           # "pflogsumm", "eximstats"
    note: str = ""
    path: Path = None
    meta: dict = field(default_factory=dict)


def workloads(scale):
    """scale 1 = full sizes, 10 = --quick."""
    def n(x):
        return x // scale
    return [
        Workload("postfix-3164", "Postfix, RFC 3164 timestamps",
                 ["--format", "postfix", "--timestamps", "rfc3164", "--seed", "1"], n(2_000_000),
                 ["status=deferred"], ["pflogsumm"]),
        Workload("postfix-3339", "Postfix, RFC 3339 timestamps",
                 ["--format", "postfix", "--timestamps", "rfc3339", "--seed", "1"], n(2_000_000),
                 ["status=deferred"], ["pflogsumm"],
                 "pflogsumm 1.1.5 reads RFC 3339 lines without options"),
        Workload("exim", "Exim mainlog",
                 ["--format", "exim", "--exim-ids", "old", "--seed", "2"], n(1_000_000),
                 [" == "], ["eximstats"],
                 "old 6-6-2 message ids only: eximstats 4.96 reads ids at fixed columns and skips "
                 "the 4.97 6-11-4 ids"),
        Workload("mixed", "mixed syslog, 4 hosts (2 Postfix, 2 Exim)",
                 ["--format", "mixed", "--hosts", "4", "--timestamps", "rfc3339", "--seed", "3"], n(2_000_000),
                 ["status=deferred"], ["pflogsumm"],
                 "pflogsumm reads the Postfix hosts' lines and skips the Exim ones; eximstats cannot "
                 "read Exim syslog lines without syslog_timestamp, so it is not run"),
        Workload("domains", f"{n(1_000_000) // 1000}k recipient domains",
                 ["--format", "postfix", "--domains", str(n(1_000_000)), "--zipf", "0", "--tail-share", "0.98",
                  "--rcpts", "12", "--episodes", "none", "--seed", "4"], n(2_400_000),
                 ["status=deferred"], ["pflogsumm"], "every tail domain in turn (memory test)"),
    ]


DW_MODES = [("report", []), ("--events", ["--events"]), ("--alerts", ["--alerts"]), ("--queue", ["--queue"])]
# `deferwatch trace --from FILE ... QUERY`, QUERY the recipient of the file's first deferral.
MODES = [m for m, _ in DW_MODES] + ["trace"]
TRACE_SCAN = 4 << 20      # bytes of the file searched for the trace query
TRACE_RX = re.compile(rb" to=<([^<>\s]+)>,.*status=deferred|\s==\s+(\S+)\s")


def trace_query(path):
    """The recipient of the first deferred delivery in the first TRACE_SCAN bytes of `path`:
    Postfix `to=<addr>` on a status=deferred line, Exim the address after `==`."""
    with open(path, "rb") as f:
        head = f.read(TRACE_SCAN)
    for line in head.split(b"\n")[:-1]:
        m = TRACE_RX.search(line)
        if m:
            return (m.group(1) or m.group(2)).decode(errors="replace")
    return None


def trace_case(workload, binary, files, query_file, lines, shown_from=None):
    """The trace case on `files` (oldest first), or None (and a note) when no query is found."""
    q = trace_query(query_file)
    if not q:
        print(f"bench: {workload}: no deferral in the first {TRACE_SCAN >> 20} MB of {shown_path(query_file)}, "
              "trace not run", file=sys.stderr)
        return None
    argv = [binary, "trace"]
    for f in files:
        argv += ["--from", str(f)]
    shown = shown_from or " ".join("--from " + shlex.quote(shown_path(f)) for f in files)
    return Case(workload, "deferwatch trace", "deferwatch", argv + [q],
                f"deferwatch trace {shown} {shlex.quote(q)}", lines)


@dataclass
class Case:
    workload: str
    label: str            # "deferwatch report", "pflogsumm", "grep -c" ...
    kind: str             # deferwatch | peer | floor
    argv: list
    shown: str            # the command line as printed
    lines: int
    ok_codes: tuple = (0,)
    env: dict = None
    runs: list = field(default_factory=list)
    error: str = ""


def shown_path(p):
    p = Path(p)
    try:
        return str(p.relative_to(ROOT))
    except ValueError:
        return str(p)


def count_lines(path):
    n = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            n += block.count(b"\n")
    return n


def generate(w, data, genlog):
    w.path = data / f"{w.name}-{w.lines}.log"
    meta_path = w.path.with_suffix(".meta.json")
    args = w.genlog + ["--lines", str(w.lines)]
    if w.path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("args") == args:
            w.meta = meta
            return
    print(f"bench: generating {shown_path(w.path)}", file=sys.stderr)
    tmp = w.path.with_suffix(".tmp")
    subprocess.run([sys.executable, str(genlog), *args, "--out", str(tmp)], check=True)
    tmp.rename(w.path)
    meta = {"args": args, "lines": count_lines(w.path), "bytes": w.path.stat().st_size}
    if w.name == "domains":
        rx = re.compile(rb" to=<[^@>]*@([^>]*)>")
        domains = set()
        with open(w.path, "rb") as f:
            for line in f:
                m = rx.search(line)
                if m:
                    domains.add(m.group(1))
        meta["distinct_domains"] = len(domains)
    meta_path.write_text(json.dumps(meta))
    w.meta = meta


def cut(src, lines, parts):
    """Writes the `lines` lines of `src` into the files `parts`, in order, as many in each."""
    per = -(-lines // len(parts))
    with open(src, "rb") as f:
        for p in parts:
            with open(p, "wb") as out:
                for _ in range(per):
                    line = f.readline()
                    if not line:
                        break
                    out.write(line)


def rotated_set(src, lines, d, names, dated=None):
    """`src` cut into the files `names` in `d` (oldest first, as logrotate leaves them), those
    named .gz gzipped (-6, two at a time: the machine has two cores); with `dated` (a
    "YYYY-MM-DD"), each file's modification time the end of its day from then on."""
    files = [d / x for x in names]
    if (d / ".done").exists():
        return files
    print(f"bench: cutting {shown_path(src)} into {len(names)} files in {shown_path(d)}/", file=sys.stderr)
    d.mkdir(parents=True, exist_ok=True)
    plain = [d / x.removesuffix(".gz") for x in names]
    cut(src, lines, plain)
    gz = [str(p) for p, n in zip(plain, names) if n.endswith(".gz")]
    for i in range(0, len(gz), 2):
        for q in [subprocess.Popen(["gzip", "-f", "-6", g]) for g in gz[i:i + 2]]:
            if q.wait() != 0:
                raise SystemExit(f"bench: gzip failed on {q.args[-1]}")
    if dated:
        day0 = time.mktime(time.strptime(dated, "%Y-%m-%d"))
        for i, p in enumerate(files):
            t = day0 + (i + 1) * 86400
            os.utime(p, (t, t))
    (d / ".done").touch()
    return files


def make_rotated(src, lines, data):
    """mail.log.3.gz mail.log.2.gz mail.log.1 mail.log: src in four parts, the two oldest gzipped."""
    return rotated_set(src, lines, data / f"rotated-{src.stem}",
                       ["mail.log.3.gz", "mail.log.2.gz", "mail.log.1", "mail.log"])


HISTORY_FILES = 30


def history_workload(scale):
    """A month of daily-rotated history: one genlog file cut into 30, as logrotate leaves them."""
    return Workload("history", f"a month of Postfix history as {HISTORY_FILES} rotated files",
                    ["--format", "postfix", "--timestamps", "rfc3164", "--seed", "5",
                     "--start", "2026-10-01T00:00:00Z", "--rate", "2.3"], 6_000_000 // scale,
                    ["status=deferred"], [],
                    "mail.log and mail.log.1 plain, mail.log.2.gz ... mail.log.29.gz (gzip -6), one day each")


def make_history(src, lines, data):
    """mail.log.29.gz ... mail.log.2.gz, mail.log.1, mail.log: `src` in HISTORY_FILES parts of
    equal line counts, one day each from 2026-10-01 (the start genlog is given)."""
    names = [f"mail.log.{i}.gz" for i in range(HISTORY_FILES - 1, 1, -1)] + ["mail.log.1", "mail.log"]
    return rotated_set(src, lines, data / f"{src.stem}-{HISTORY_FILES}", names, dated="2026-10-01")


def events_digest(binary, files, extra=()):
    h = hashlib.sha256()
    p = subprocess.Popen([binary, "analyze", "--events", *extra, *map(str, files)], stdout=subprocess.PIPE)
    for block in iter(lambda: p.stdout.read(1 << 20), b""):
        h.update(block)
    return h.hexdigest() if p.wait() == 0 else f"failed ({p.returncode})"


def grep_argv(patterns, files):
    argv = ["grep", "-c", "-F"]
    for p in patterns:
        argv += ["-e", p]
    return argv + [str(f) for f in files]


def build_cases(ws, rotated, binary, tools, modes):
    cases = []
    c_env = dict(os.environ, LC_ALL="C")
    for w in ws:
        f = str(w.path)
        lines = w.meta["lines"]
        for mode, extra in DW_MODES:
            if mode in modes:
                cases.append(Case(w.name, f"deferwatch {mode}", "deferwatch", [binary, "analyze", *extra, f],
                                  shlex.join(["deferwatch", "analyze", *extra, shown_path(f)]), lines))
        if "trace" in modes:
            t = trace_case(w.name, binary, [w.path], w.path, lines)
            if t:
                cases.append(t)
        for peer in w.peers:
            argv = tools[peer] + [f]
            cases.append(Case(w.name, peer, "peer", argv, shlex.join([peer, shown_path(f)]), lines))
        g = grep_argv(w.grep, [f])
        cases.append(Case(w.name, "grep -c", "floor", g, "LC_ALL=C " + shlex.join(g[:-1] + [shown_path(f)]),
                          lines, (0, 1), c_env))
    if rotated:
        files, lines = rotated
        for mode, extra in DW_MODES[:2]:
            if mode in modes:
                cases.append(Case("rotated", f"deferwatch {mode}", "deferwatch",
                                  [binary, "analyze", *extra, *map(str, files)],
                                  shlex.join(["deferwatch", "analyze", *extra, *map(shown_path, files)]), lines))
        script = "zcat -f " + shlex.join(map(str, files)) + " | LC_ALL=C grep -c -F -e status=deferred"
        cases.append(Case("rotated", "zcat, grep -c", "floor", ["sh", "-c", script],
                          "zcat -f " + " ".join(map(shown_path, files)) + " | LC_ALL=C grep -c -F -e status=deferred",
                          lines, (0, 1)))
    return cases


def history_cases(hist, binary, modes):
    """deferwatch on the 30 files, and the floor: zcat | grep -c of the same files on one core."""
    files, lines = hist
    cases = []
    for mode, extra in DW_MODES:
        if mode in modes:
            cases.append(Case("history", f"deferwatch {mode}", "deferwatch", [binary, "analyze", *extra, *map(str, files)],
                              shlex.join(["deferwatch", "analyze", *extra]) + f" {shown_path(files[0].parent)}/mail.log*",
                              lines))
    if "trace" in modes:
        d = shown_path(files[0].parent)
        t = trace_case("history", binary, files, files[-1], lines,
                       f"--from {d}/{files[0].name} ... --from {d}/{files[-1].name}")
        if t:
            cases.append(t)
    script = "zcat -f " + shlex.join(map(str, files)) + " | LC_ALL=C grep -c -F -e status=deferred"
    cases.append(Case("history", "zcat, grep -c (one core)", "floor", ["taskset", "-c", "0", "sh", "-c", script],
                      f"taskset -c 0 sh -c 'zcat -f {shown_path(files[0].parent)}/mail.log.29.gz ... mail.log "
                      "| LC_ALL=C grep -c -F -e status=deferred'", lines, (0, 1)))
    return cases


def run_once(case):
    with tempfile.NamedTemporaryFile("r", prefix="bench-time-") as tf:
        argv = ["/usr/bin/time", "-f", "%e %U %S %M", "-o", tf.name, *case.argv]
        busy0 = bl.busy_jiffies()
        t0 = time.perf_counter()
        # grep stops at the first match when its output is /dev/null: the floor writes to a file.
        with open(tf.name + ".out", "wb") if case.kind == "floor" else open(os.devnull, "wb") as out:
            p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.PIPE, env=case.env)
        wall = time.perf_counter() - t0
        busy = (bl.busy_jiffies() - busy0) / bl.CLK_TCK
        last = (tf.read().strip().splitlines() or ["? ? ? ?"])[-1]
        if case.kind == "floor":
            os.unlink(tf.name + ".out")
    if p.returncode not in case.ok_codes:
        case.error = f"exit {p.returncode}: {p.stderr.decode(errors='replace').strip()[-300:]}"
        return None
    _, user, system, kb = last.split()
    cpu = float(user) + float(system)
    return {"wall": wall, "cpu": cpu, "user": float(user), "sys": float(system), "rss_mb": int(kb) / 1024,
            "background_cores": max(0.0, (busy - cpu) / wall) if wall > 0 else 0.0}


def summarise(case):
    ok = [r for r in case.runs if r]
    if not ok:
        return None
    best = min(ok, key=lambda r: r["wall"])
    return {"best": best["wall"], "median": statistics.median(r["wall"] for r in ok), "cpu": best["cpu"],
            "rss_mb": max(r["rss_mb"] for r in ok), "rate": case.lines / best["wall"] if best["wall"] > 0 else None,
            "runs": len(ok)}


def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "-"


def div(a, b):
    return a / b if a and b else None


# Issue 18's targets: each mode at PEER_WALL× its peer's lines/s and PEER_CPU× per CPU second,
# --alerts at ALERTS_SHARE of the report's lines/s, the month of history at HISTORY_FLOOR× zcat |
# grep -c on one core, and no mode above DOMAINS_RSS_MB peak RSS on the domains file.
PEER_WALL, PEER_CPU, ALERTS_SHARE, HISTORY_FLOOR, DOMAINS_RSS_MB = 30, 15, 0.75, 1.5, 150
TARGETS_HEADER = ["workload", "mode", "lines/s", f"× peer, wall ({PEER_WALL})", f"× peer, CPU ({PEER_CPU})",
                  f"alerts ÷ report ({ALERTS_SHARE:.0%})", f"× zcat, grep ({HISTORY_FLOOR})",
                  f"peak RSS MB (domains < {DOMAINS_RSS_MB})"]
TARGET_NAMES = {"wall": f"{PEER_WALL}× peer in wall time", "cpu": f"{PEER_CPU}× peer per CPU s",
                "alerts": f"--alerts at {ALERTS_SHARE:.0%} of the report", "history": f"{HISTORY_FLOOR}× zcat | grep -c",
                "rss": f"< {DOMAINS_RSS_MB} MB on domains"}


def issue18(names, by, peer_of):
    """Rows of the issue-18 table for the workloads `names`, and the verdicts: a list of
    (what, workload, mode, value, met), `what` one of wall, cpu, alerts, history, rss."""
    def summ(wl, label):
        r = by.get((wl, label))
        return r["summary"] if r and r["summary"] else None

    rows, verdicts = [], []
    for wl in names:
        peer = peer_of(wl)
        ps = summ(wl, peer) if peer else None
        rep = summ(wl, "deferwatch report")
        floor = summ(wl, "zcat, grep -c (one core)") if wl == "history" else None
        for m in MODES:
            s = summ(wl, f"deferwatch {m}")
            if not s:
                if (wl, f"deferwatch {m}") in by:
                    rows.append([wl, m, "failed", "", "", "", "", ""])
                    verdicts.append(("failed", wl, m, None, False))
                continue
            cells = [wl, m, bl.fmt_rate(s["rate"])]
            checks = [("wall", ps and div(s["rate"], ps["rate"]), PEER_WALL),
                      ("cpu", ps and div(ps["cpu"], s["cpu"]), PEER_CPU),
                      ("alerts", m == "--alerts" and rep and div(s["rate"], rep["rate"]), ALERTS_SHARE),
                      ("history", floor and div(s["rate"], floor["rate"]), HISTORY_FLOOR)]
            for what, x, target in checks:
                if x:
                    verdicts.append((what, wl, m, x, x >= target))
                    cells.append(mark_share(x, target) if what == "alerts" else mark(x, target))
                else:
                    cells.append("-")
            if wl == "domains":
                verdicts.append(("rss", wl, m, s["rss_mb"], s["rss_mb"] < DOMAINS_RSS_MB))
                cells.append(f"{s['rss_mb']:.0f} {'✓' if s['rss_mb'] < DOMAINS_RSS_MB else '✗'}")
            else:
                cells.append(f"{s['rss_mb']:.0f}")
            rows.append(cells)
    return rows, verdicts


def issue18_summary(verdicts):
    """"Issue 18: N of M targets met (...)", by target; the misses named when there are few."""
    parts = []
    for what, name in TARGET_NAMES.items():
        vs = [v for v in verdicts if v[0] == what]
        if not vs:
            continue
        miss = [f"{v[1]} {v[2]}" for v in vs if not v[4]]
        part = f"{name} {len(vs) - len(miss)}/{len(vs)}"
        if miss and len(miss) <= 3:
            part += f" (missed: {', '.join(miss)})"
        parts.append(part)
    failed = [f"{v[1]} {v[2]}" for v in verdicts if v[0] == "failed"]
    if failed:
        parts.append(f"failed, not measured: {', '.join(failed)}")
    counted = [v for v in verdicts if v[0] != "failed"]
    met = sum(1 for v in counted if v[4])
    return f"Issue 18: {met} of {len(counted)} targets met ({'; '.join(parts)})."


def drop_empty_columns(header, rows, keep=3):
    """The table without the columns (after the first `keep`) that are "-" on every row."""
    cols = [i for i in range(len(header))
            if i < keep or any(len(r) > i and r[i] not in ("-", "") for r in rows)]
    return [header[i] for i in cols], [[r[i] if i < len(r) else "" for i in cols] for r in rows]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bin", required=True, help="the deferwatch binary")
    ap.add_argument("--genlog", default=str(ROOT.parent / "shared/bench/genlog.py"))
    ap.add_argument("--eximstats", help="the eximstats script (run with perl)")
    ap.add_argument("--eximstats-version", help="the exim4-base package version it came from")
    ap.add_argument("--pflogsumm", default="pflogsumm")
    ap.add_argument("--data", default=str(ROOT / "bench-data"))
    ap.add_argument("--quick", action="store_true", help="a tenth of the sizes")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", help="regular expression: run only the workloads whose name matches")
    ap.add_argument("--modes", default=",".join(MODES),
                    help=f"deferwatch modes, comma-separated (default: {','.join(MODES)}; trace is `deferwatch trace "
                         "--from FILE ... ADDRESS`, the recipient of the file's first deferral)")
    ap.add_argument("--no-peers", action="store_true", help="deferwatch and grep only")
    ap.add_argument("--no-rotated", action="store_true")
    ap.add_argument("--no-history", action="store_true", help="leave out the month of 30 rotated files")
    ap.add_argument("--history-only", action="store_true", help="only the month of 30 rotated files")
    ap.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    ap.add_argument("--markdown", help="write the section to this file instead of BENCHMARKS.md")
    args = ap.parse_args()

    data = Path(args.data)
    data.mkdir(parents=True, exist_ok=True)
    scale = 10 if args.quick else 1
    ws = workloads(scale)
    if args.only:
        ws = [w for w in ws if re.search(args.only, w.name)]
    if args.history_only:
        ws = []
    for w in ws:
        generate(w, data, Path(args.genlog))
        if args.no_peers:
            w.peers = []
    tools = {"pflogsumm": [args.pflogsumm], "eximstats": ["perl", args.eximstats] if args.eximstats else None}
    for w in ws:
        missing = [p for p in w.peers if not tools.get(p)]
        if missing:
            print(f"bench: {', '.join(missing)} not available, skipped", file=sys.stderr)
            w.peers = [p for p in w.peers if tools.get(p)]
    modes = set(args.modes.split(","))
    if modes - set(MODES):
        ap.error(f"unknown mode {', '.join(sorted(modes - set(MODES)))} (modes: {','.join(MODES)})")

    rotated = None
    identical = None
    base = next((w for w in ws if w.name == "postfix-3164"), None)
    if base and not args.no_rotated:
        files = make_rotated(base.path, base.meta["lines"], data)
        rotated = (files, base.meta["lines"])
        print("bench: checking that the rotated files give the same --events as the single file", file=sys.stderr)
        identical = events_digest(args.bin, [base.path]) == events_digest(args.bin, files)

    hist = None
    hist_identical = None
    if not args.no_history:
        hw = history_workload(scale)
        generate(hw, data, Path(args.genlog))
        files = make_history(hw.path, hw.meta["lines"], data)
        hist = (files, hw.meta["lines"])
        print("bench: checking that the 30 files give the --events of the single file, with 2 threads and with 1",
              file=sys.stderr)
        whole = events_digest(args.bin, [hw.path])
        hist_identical = whole == events_digest(args.bin, files) == events_digest(args.bin, files, ["--threads", "1"])

    cases = [] if args.history_only else build_cases(ws, rotated, args.bin, tools, modes)
    if hist:
        cases += history_cases(hist, args.bin, modes)
    # The files in the page cache before the first round.
    for w in ws:
        subprocess.run(["cat", str(w.path)], stdout=subprocess.DEVNULL)
    load_start = bl.loadavg()
    started = bl.now_utc()
    for r in range(args.rounds):
        for c in cases:
            print(f"bench: round {r + 1}/{args.rounds}: {c.workload}: {c.label}", file=sys.stderr, flush=True)
            c.runs.append(run_once(c))
    load_end = bl.loadavg()

    results = []
    for c in cases:
        s = summarise(c)
        results.append({"workload": c.workload, "label": c.label, "kind": c.kind, "command": c.shown,
                        "lines": c.lines, "summary": s, "runs": c.runs, "error": c.error})
    by = {(r["workload"], r["label"]): r for r in results}

    def rate(wl, label):
        r = by.get((wl, label))
        return r["summary"]["rate"] if r and r["summary"] else None

    def peer_of(wl):
        w = next((w for w in ws if w.name == wl), None)
        return w.peers[0] if w and w.peers else None

    header = ["workload", "command", "best s", "median s", "lines/s", "CPU s", "peak RSS MB", "× peer", "× grep"]
    rows = []
    for r in results:
        s = r["summary"]
        wl = r["workload"]
        floor = {"rotated": "zcat, grep -c", "history": "zcat, grep -c (one core)"}.get(wl, "grep -c")
        peer = peer_of(wl)
        if not s:
            rows.append([wl, r["label"], "failed", "", "", "", "", "", ""])
            continue
        rows.append([wl, r["label"], f"{s['best']:.2f}", f"{s['median']:.2f}", bl.fmt_rate(s["rate"]),
                     f"{s['cpu']:.2f}", f"{s['rss_mb']:.0f}",
                     ratio(s["rate"], rate(wl, peer)) if peer else "-", ratio(s["rate"], rate(wl, floor))])
    # Weighted by wall time; the maximum only over runs long enough for /proc/stat's ticks.
    ok_runs = [run for c in cases for run in c.runs if run]
    total_wall = sum(r["wall"] for r in ok_runs)
    bg_mean = sum(r["background_cores"] * r["wall"] for r in ok_runs) / total_wall if total_wall else 0.0
    bg_max = max((r["background_cores"] for r in ok_runs if r["wall"] >= 0.5), default=0.0)

    target_names = [w.name for w in ws] + (["history"] if hist else [])
    trows, tverdicts = issue18(target_names, by, peer_of)

    print()
    print(bl.text_table(header, rows))
    if trows:
        print("Targets (issue 18)")
        print(bl.text_table(*drop_empty_columns(TARGETS_HEADER, trows)))
        print(issue18_summary(tverdicts))
    for c in cases:
        if c.error:
            print(f"FAILED {c.workload} {c.label}: {c.error}")
    if identical is not None:
        print(f"rotated files: --events identical to the single file: {'yes' if identical else 'NO'}")
    print(f"background load: {bg_mean:.2f} cores on average, {bg_max:.2f} at most; load average {load_start} -> {load_end}")

    stamp = time.strftime("%Y%m%dT%H%M%S")
    (data / "results").mkdir(exist_ok=True)
    machine = bl.machine()
    raw = {"started": started, "machine": machine, "quick": args.quick, "rounds": args.rounds,
           "binary": bl.binary_info(args.bin), "results": results, "rotated_identical": identical,
           "workloads": {w.name: w.meta for w in ws}, "background_cores": [bg_mean, bg_max],
           "history_identical": hist_identical,
           "loadavg": [load_start, load_end]}
    (data / "results" / f"analyze-{stamp}.json").write_text(json.dumps(raw, indent=1))

    if args.write or args.markdown:
        md = markdown(raw, ws, rows, header, by, rate, peer_of, tools, args, rotated, identical, hist, hist_identical,
                      (trows, tverdicts))
        if args.markdown:
            Path(args.markdown).write_text(md)
        else:
            bl.update_benchmarks_md("analyze", md, machine)
            print(f"bench: wrote {shown_path(bl.BENCHMARKS_MD)}", file=sys.stderr)
    return 1 if any(c.error for c in cases) else 0


def peer_versions(tools, version):
    out = []
    v = bl.sh(tools["pflogsumm"] + ["--version"]) if tools.get("pflogsumm") else ""
    deb = bl.sh(["dpkg-query", "-W", "-f=${Version}", "pflogsumm"])
    if v:
        out.append(f"{v}" + (f" (Debian package {deb})" if deb else ""))
    if tools.get("eximstats"):
        out.append(f"eximstats from exim4-base {version or '?'} (unpacked with dpkg-deb, not installed; run with perl)")
    out.append(bl.sh(["grep", "--version"]).splitlines()[0] if bl.sh(["grep", "--version"]) else "grep")
    return out


def markdown(raw, ws, rows, header, by, rate, peer_of, tools, args, rotated, identical, hist=None, hist_identical=None,
             targets=([], [])):
    size = "quick sizes (a tenth: `scripts/bench --quick`)" if args.quick else "full sizes"
    bg_mean, bg_max = raw["background_cores"]
    md = ["## Reading log files (`deferwatch analyze`)\n",
          f"Measured {raw['started']}, {size}, {args.rounds} rounds; {raw['binary']}.",
          f"Peers: {'; '.join(peer_versions(tools, args.eximstats_version))}.",
          f"Background: the rest of the machine kept {bg_mean:.2f} cores busy on average ({bg_max:.2f} at most) "
          f"while the commands ran; load average {raw['loadavg'][0]} at the start, {raw['loadavg'][1]} at the end.\n",
          "### Workloads\n"]
    wrows = []
    for w in ws:
        extra = f"; {w.meta['distinct_domains']:,} distinct recipient domains" if "distinct_domains" in w.meta else ""
        wrows.append([w.name, w.title, f"{w.meta['lines']:,}", f"{w.meta['bytes'] / 1e6:.0f}",
                      "`genlog.py " + " ".join(w.meta["args"]) + "`", (w.note + extra).lstrip("; ")])
    if rotated:
        files, lines = rotated
        wrows.append(["rotated", "postfix-3164 as 4 rotated files", f"{lines:,}",
                      f"{sum(f.stat().st_size for f in files) / 1e6:.0f}",
                      "split in four: " + ", ".join(f.name for f in files), "the two oldest gzipped"])
    if hist:
        files, lines = hist
        hw = history_workload(10 if args.quick else 1)
        wrows.append(["history", hw.title, f"{lines:,}", f"{sum(f.stat().st_size for f in files) / 1e6:.0f} on disk",
                      "`genlog.py " + " ".join(hw.genlog) + f" --lines {hw.lines}`, cut in {HISTORY_FILES}", hw.note])
    md.append(bl.md_table(["workload", "what", "lines", "MB", "generated with", "note"], wrows,
                          ["l", "l", "r", "r", "l", "l"]))
    md.append("\n### Results\n")
    md.append(f"Each command ran once per round, all commands in turn (round robin), {args.rounds} rounds. "
              "**best s** is the fastest wall time of the rounds and **lines/s** = lines in the file / best s; "
              "median s is the median wall time; CPU s (user + sys) is that of the fastest run; peak RSS is the "
              "highest of the rounds (both from `/usr/bin/time -f '%e %U %S %M'`). "
              "**× peer** is the row's lines/s over the peer's on the same file (pflogsumm, or eximstats for "
              "the Exim mainlog); **× grep** over the grep floor's. Output goes to /dev/null, except grep's "
              "(to a file: GNU grep stops at the first match when its output is /dev/null).\n")
    md.append(bl.md_table(header, rows))
    if args.quick:
        md.append("\nAt quick sizes grep takes a few milliseconds: its figures are mostly process start-up.\n")

    trows, tverdicts = targets
    if trows:
        md.append("\n### Targets (issue 18)\n")
        theader, trows = drop_empty_columns(TARGETS_HEADER, trows)
        say = {TARGETS_HEADER[3]: f"**× peer, wall**: the mode's lines/s over its peer's on the same file "
                                  f"(target {PEER_WALL})",
               TARGETS_HEADER[4]: f"**× peer, CPU**: the peer's CPU s over the mode's, user + sys of the fastest "
                                  f"runs (target {PEER_CPU})",
               TARGETS_HEADER[5]: f"**alerts ÷ report**: `--alerts`' lines/s as a share of the report's "
                                  f"(target {ALERTS_SHARE:.0%})",
               TARGETS_HEADER[6]: f"**× zcat, grep**: the month of history's lines/s over `zcat | grep -c`'s on "
                                  f"one core (target {HISTORY_FLOOR}; the history has no peer)",
               TARGETS_HEADER[7]: f"**peak RSS**: the target, below {DOMAINS_RSS_MB} MB, is on the domains file, "
                                  "every mode"}
        md.append("Met: ✓; missed: ✗. " + "; ".join(say[h] for h in theader if h in say) + ".\n")
        md.append(bl.md_table(theader, trows, ["l", "l"] + ["r"] * (len(theader) - 2)))
        md.append("\n" + issue18_summary(tverdicts)
                  + (" At quick sizes a run takes tenths of a second: start-up weighs more than at full size, "
                     "and the CPU seconds have two digits." if args.quick else "") + "\n")

    md.append("\n### Reading\n")
    reading = []

    def span(what, fmt):
        vs = [v for v in tverdicts if v[0] == what]
        if not vs:
            return None
        lo, hi = min(vs, key=lambda v: v[3]), max(vs, key=lambda v: v[3])
        met = [f"{v[1]} `{v[2]}`" for v in vs if v[4]]
        miss = [f"{v[1]} `{v[2]}`" for v in vs if not v[4]]
        if len(vs) == 1:
            verdict = "met" if met else "missed"
        elif not miss:
            verdict = "met everywhere"
        elif not met:
            verdict = "missed everywhere"
        elif len(miss) <= 3:
            verdict = "missed on " + ", ".join(miss)
        elif len(met) <= 3:
            verdict = f"met only on {', '.join(met)} ({len(met)} of {len(vs)})"
        else:
            verdict = f"missed on {len(miss)} of {len(vs)}"
        if len(vs) == 1:
            return f"{fmt(lo[3])} (`{lo[2]}` on {lo[1]})", verdict
        return f"{fmt(lo[3])} (`{lo[2]}` on {lo[1]}) to {fmt(hi[3])} (`{hi[2]}` on {hi[1]})", verdict

    x = span("wall", lambda v: f"{v:.1f}×")
    if x:
        reading.append(f"- In wall time the deferwatch modes run {x[0]} their peer's lines/s: the {PEER_WALL}× "
                       f"target (issue 18) is {x[1]}.")
    x = span("cpu", lambda v: f"{v:.1f}×")
    if x:
        reading.append(f"- Per CPU second {x[0]} the peer: the {PEER_CPU}× target is {x[1]}.")
    x = span("alerts", lambda v: f"{v:.0%}")
    if x:
        reading.append(f"- `--alerts` keeps {x[0]} of the report's lines/s: the {ALERTS_SHARE:.0%} target is {x[1]}.")
    gx = [div(rate(w.name, "deferwatch report"), rate(w.name, "grep -c")) for w in ws]
    gx = [g for g in gx if g]
    if gx:
        reading.append(f"- Against the grep floor the report reaches {min(gx):.3f} to {max(gx):.3f} of grep's "
                       "lines/s (issue 7's aim: 0.25).")
    dom = next((w for w in ws if w.name == "domains"), None)
    if dom:
        dr = [(by[("domains", f"deferwatch {m}")]["summary"]["rss_mb"], m) for m in MODES
              if by.get(("domains", f"deferwatch {m}")) and by[("domains", f"deferwatch {m}")]["summary"]]
        if dr:
            rss, m = max(dr)
            reading.append(f"- Peak RSS on the domains file ({dom.meta.get('distinct_domains', 0):,} distinct domains): "
                           f"{rss:.0f} MB at most (`{m}`), {'below' if rss < DOMAINS_RSS_MB else 'above'} issue 18's "
                           f"{DOMAINS_RSS_MB} MB target"
                           + ("" if not args.quick else "; quick sizes have a tenth of the domains") + ".")
    if rotated:
        r1 = by.get(("rotated", "deferwatch report"))
        single = rate("postfix-3164", "deferwatch report")
        if r1 and r1["summary"]:
            s = r1["summary"]
            reading.append(f"- Rotated files (two of them gzipped): {bl.fmt_rate(s['rate'])} lines/s, "
                           f"{s['rate'] / single:.2f}× the single file; CPU/wall = {s['cpu'] / s['best']:.2f} cores. "
                           f"`--events` output {'identical to' if identical else 'DIFFERS from'} the single file's.")
    if hist:
        floor = rate("history", "zcat, grep -c (one core)")
        for m in MODES:
            r = by.get(("history", f"deferwatch {m}"))
            if r and r["summary"] and floor:
                s = r["summary"]
                x = s["rate"] / floor
                reading.append(f"- A month of history ({HISTORY_FILES} files, 28 gzipped), `{m}`: {bl.fmt_rate(s['rate'])} lines/s, "
                               f"{x:.2f}× `zcat | grep -c` on one core (issue 18's target {HISTORY_FLOOR}× "
                               f"{'✓' if x >= HISTORY_FLOOR else '✗'}); "
                               f"CPU/wall = {s['cpu'] / s['best']:.2f} cores.")
        if hist_identical is not None:
            reading.append(f"- The 30 files' `--events` {'are identical to' if hist_identical else 'DIFFER from'} the single "
                           "file's, with two threads and with one.")
    reading.append(f"- Noise: the rest of the machine used {bg_mean:.2f} cores on average during the runs; "
                   "best-of-rounds is the figure least disturbed by it, the median shows the spread.")
    md.append("\n".join(reading) + "\n")

    md.append("\n### Command lines\n")
    md.append("```")
    seen = set()
    for r in raw["results"]:
        if r["command"] not in seen:
            seen.add(r["command"])
            md.append(r["command"] + (" > FILE" if r["kind"] == "floor" else " > /dev/null"))
    md.append("```")
    return "\n".join(md) + "\n"


def mark(x, target, aim=None):
    if x is None:
        return "-"
    s = f"{x:.2f}" if x < 10 else f"{x:.1f}"
    return f"{s} {'✓' if x >= target else '✗'}" + (" (aim ✓)" if aim and x >= aim else "")


def mark_share(x, target):
    s = f"{x:.0%}"
    if (round(x * 100) >= round(target * 100)) != (x >= target):
        s = f"{x:.1%}"          # 74.6% rather than a missed "75%"
    return f"{s} {'✓' if x >= target else '✗'}"


if __name__ == "__main__":
    sys.exit(main())
