#!/usr/bin/env python3
"""The daemon's memory with a million destinations (issue 18): `deferwatch run` following a
file into which a log touching a million distinct recipient domains is written, its RSS once
it has read every line.

    Benchmarks/destinations_memory.py [--binary PATH] [--commit REV] [--quick] [--write]

The log is the `domains` workload of Benchmarks/bench.py (bench-data/domains-2400000.log:
2.4M Postfix lines from genlog.py, about 1,000,000 distinct recipient domains, every tail
domain in turn; generated as bench.py does when missing; --quick: its tenth,
domains-240000.log, about 100,000 domains). Its dates are moved, as a whole, to end a minute
before each daemon starts, so the lines are as recent as on a live host (the daemon would
take the original dates too: a backlog is judged on its own dates). The daemon runs with the
shipped configuration and its default caps (`max_tracked_keys` 50,000 destination keys with
a window, `max_tracked_messages` 200,000, the queue's `max_messages` 1,000,000), with only
what a test must set changed (the file followed, no journal, the state directory, the
sockets). Three daemons read the same lines in turn: as shipped (the queue followed,
`[status] trace_bytes` 16 MiB of recent lines), without the recent lines (`trace_bytes = 0`),
and without the queue either (`[queue] enabled = false`): the differences are what the recent
lines and the queue cost. RSS is the process's VmRSS once /v1/status shows every line read
(and once more 2 s later); peak is VmHWM; at start is VmRSS before the first line. --write
puts the table into BENCHMARKS.md."""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402
import benchlib as bl  # noqa: E402
from queue_memory import append, daemon, get  # noqa: E402

TARGET_MB = 128
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def redate(src, dst, end):
    """Copies the RFC 3164 log `src` to `dst` with every line's date moved by one offset, so
    that its last line is dated `end` (epoch seconds). The dates are local time, as the
    daemon reads them; the year of the last line is the latest that is not after `end`."""
    def header_time(h, year):
        t = time.strptime(f"{year} {h.decode()}", "%Y %b %d %H:%M:%S")
        return time.mktime(t)

    with open(src, "rb") as f:
        f.seek(max(0, os.path.getsize(src) - (1 << 16)))
        last = f.read().rstrip(b"\n").rsplit(b"\n", 1)[-1][:15]
    year = time.localtime(end).tm_year
    if header_time(last, year) > end + 86400:
        year -= 1
    last_month = MONTHS.index(last[:3].decode())
    offset = end - header_time(last, year)
    cache = {}

    def moved(h):
        month = MONTHS.index(h[:3].decode())
        t = header_time(h, year if month <= last_month else year - 1) + offset
        lt = time.localtime(t)
        return f"{MONTHS[lt.tm_mon - 1]} {lt.tm_mday:2d} {time.strftime('%H:%M:%S', lt)}".encode()

    with open(src, "rb") as inp, open(dst, "wb") as out:
        for line in inp:
            h = line[:15]
            new = cache.get(h)
            if new is None:
                try:
                    new = moved(h)
                except ValueError:   # not an RFC 3164 date: left as it is
                    new = h
                cache[h] = new
            out.write(new + line[15:])


def measure(binary, tmp, log_lines, lines, extra):
    """Starts the daemon on an empty file, appends the lines, waits until it has read them
    all: (RSS at start MB, RSS MB, peak MB, status at the end, seconds)."""
    with daemon(binary, tmp, extra) as (p, log, sock):
        time.sleep(1)
        idle = bl.proc_rss_mb(p.pid)
        t0 = time.monotonic()
        append(log, log_lines)
        st = None
        while time.monotonic() - t0 < 900:
            time.sleep(1)
            try:
                st = get(sock, "/v1/status?limit=0")
            except OSError:
                continue
            if st is not None and st["lines"]["total"] >= lines:
                break
        elapsed = time.monotonic() - t0
        if st is None or st["lines"]["total"] < lines:
            raise SystemExit(f"destinations_memory: the daemon read {st and st['lines']['total']} of {lines:,} lines in 900 s")
        # One more snapshot: the view of the last lines built and published.
        time.sleep(2)
        st = get(sock, "/v1/status?limit=0")
        rss, peak = bl.proc_rss_mb(p.pid), bl.proc_peak_rss_mb(p.pid)
        return idle, rss, peak, st, elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=str(bl.ROOT / ".build/release/deferwatch"))
    ap.add_argument("--commit", help="the commit the binary was built from, for the section (a binary given by path)")
    ap.add_argument("--genlog", default=str(bl.ROOT.parent / "shared/bench/genlog.py"))
    ap.add_argument("--data", default=str(bl.ROOT / "bench-data"))
    ap.add_argument("--quick", action="store_true", help="the tenth of the workload (about 100,000 destinations)")
    ap.add_argument("--write", action="store_true")
    a = ap.parse_args()
    data = Path(a.data)
    data.mkdir(parents=True, exist_ok=True)
    w = next(w for w in bench.workloads(10 if a.quick else 1) if w.name == "domains")
    bench.generate(w, data, Path(a.genlog))
    n, domains = w.meta["lines"], w.meta.get("distinct_domains")
    cases = [
        ("as shipped: the queue and 16 MiB of recent lines", {}),
        ("no recent lines (`trace_bytes = 0`)", {"status": "trace_bytes = 0"}),
        ("neither (`[queue] enabled = false`, `trace_bytes = 0`)", {"queue": "enabled = false", "status": "trace_bytes = 0"}),
    ]
    rows, results = [], []
    with tempfile.TemporaryDirectory(prefix="deferwatch-bench-destinations-") as tmp:
        lines = f"{tmp}/lines.log"
        for name, extra in cases:
            redate(w.path, lines, time.time() - 60)
            idle, rss, peak, st, secs = measure(a.binary, tmp, lines, n, extra)
            tracked = st.get("tracked_destinations")
            queued = (st.get("queue") or {}).get("messages") if st.get("queue") else None
            outliers = st["lines"].get("time_outliers", 0)
            results.append((rss, peak, tracked, outliers))
            rows.append([name, f"{tracked:,}" if tracked is not None else "-", f"{queued:,}" if queued is not None else "-",
                         f"{idle:.0f} MB", f"{rss:.0f} MB", f"{peak:.0f} MB", f"{secs:.1f} s"])
            print(f"destinations_memory: {name}: at start {idle:.0f} MB, rss {rss:.0f} MB, peak {peak:.0f} MB, "
                  f"{tracked} keys tracked, {queued} queued, {outliers} time outliers, {secs:.1f} s", file=sys.stderr)
    info = bl.binary_info(a.binary, a.commit)
    rss0, peak0 = results[0][0], results[0][1]
    verdict = (f"Target {'met' if rss0 < TARGET_MB else 'not met'}: {rss0:.0f} MB as shipped (peak {peak0:.0f} MB) "
               f"after {domains or 0:,} destinations.")
    if any(r[3] for r in results):
        verdict += f" ({max(r[3] for r in results):,} lines were dated in the future and not tracked.)"
    text = f"""## A million destinations (issue 18)

Measured {bl.now_utc()} with {info}, by `Benchmarks/destinations_memory.py{' --quick' if a.quick else ''}`:
`deferwatch run` with the shipped configuration and its default caps, following a file into
which the `domains` workload ({n:,} Postfix lines, {w.meta['bytes'] / 1e6:.0f} MB, {domains or 0:,}
distinct recipient domains: `genlog.py {' '.join(w.meta['args'])}`, its dates moved to end a
minute before the daemon starts) is appended at once. RSS is VmRSS once `/v1/status` shows
every line read (peak: VmHWM; at start: before the first line); destination keys tracked is
the status's `tracked_destinations` (`max_tracked_keys` is 50,000: the keys are kept in two
generations and the older one is dropped whole when the newer is full, so between 25,000 and
50,000 are held once the cap is reached). Target: under {TARGET_MB} MB as shipped.

{bl.md_table(["daemon", "destination keys tracked", "messages in its queue", "RSS at start", "RSS", "peak RSS", "read in"], rows, ["l", "r", "r", "r", "r", "r", "r"])}

{verdict}

The recent lines of `status trace` cost {results[0][0] - results[1][0]:.0f} MB (the first row less
the second), the queue {results[1][0] - results[2][0]:.0f} MB (the second less the third: the
workload has no incidents, so few messages are in flight at the end); the rest is the daemon
at start and the tracker's windows.

heaptrack of the first daemon at fd0dbe7 (the full workload), before the recent lines became
bytes in a ring of their budget (56949ab): 73 MB of heap at its peak, of which the recent
lines took 37 MB (`MessageTrace.Recent.append` 28 MB, the strings of
`MessageTrace.split` 9 MB), the destination windows 21 MB (the generations' dictionaries,
`BoundedMap.insert` from `DestinationWindows.countAttempt`, 14 MB; their counter blocks,
`SlidingWindow.Block`, 8 MB), the classifier's `NeedleMatcher` 5 MB, `SenderBook` 2 MB and
the relay and provider names (`RelayNames.name`, `PostfixParser.parse`) 4 MB.
"""
    print(text)
    if a.write:
        bl.update_benchmarks_md("destinations", text)


if __name__ == "__main__":
    main()
