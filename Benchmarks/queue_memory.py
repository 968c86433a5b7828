#!/usr/bin/env python3
"""The daemon's memory with a million messages in flight (issue 16): `deferwatch run`
following a file into which a million distinct deferred Postfix messages are written, its
RSS once it has read them all and published their queue.

    Benchmarks/queue_memory.py [--binary PATH] [--messages 1000000] [--quick] [--write]

Each message is one deferral of its own queue id (a recipient at one of 5,000 domains, each
its own MX), with timestamps spread over the hour before the test, so every message is in
flight at the end. Every domain answers the same service_unavailable reply: a storm, which
the shipped `max_open_alerts` turns into one alert of scope `all`, as on a real host. Three daemons read the same lines in turn:
as shipped (the queue followed, `[status] trace_bytes` 16 MiB of recent lines), without the
recent lines (`trace_bytes = 0`), and without the queue (`[queue] enabled = false`,
`trace_bytes = 0`): the differences are what the queue and the recent lines cost. RSS is
the process's VmRSS once /v1/status shows every line read and the queue of them all; peak
is VmHWM. --write puts the table into BENCHMARKS.md."""

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as bl  # noqa: E402

DOMAINS = 5000
# service_unavailable (a receiver's problem of its own), the same from every domain.
REPLY = "451 4.3.0 Temporary local problem, please try again later"


def generate(path, messages):
    start = datetime.now(timezone.utc) - timedelta(hours=1)
    step = 3600 / messages
    with open(path, "w") as out:
        for i in range(messages):
            t = (start + timedelta(seconds=i * step)).strftime("%Y-%m-%dT%H:%M:%S.%f")
            d = i % DOMAINS
            dom, ip = f"d{d}.example", f"192.0.2.{d % 250}"
            out.write(f"{t}+00:00 mx1 postfix/smtp[1]: {i:011X}: to=<u{i}@{dom}>, relay=mx.{dom}[{ip}]:25, "
                      f"delay=600, delays=599/0/0/1, dsn=4.3.0, status=deferred (host mx.{dom}[{ip}] said: "
                      f"{REPLY} (in reply to end of DATA command))\n")


def get(sock, target):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(sock)
    s.sendall(f"GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while True:
        b = s.recv(1 << 16)
        if not b:
            break
        data += b
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return json.loads(body) if head.split()[1] == b"200" else None


@contextlib.contextmanager
def daemon(binary, tmp, extra):
    """`deferwatch run` on an empty file of its own, in a directory of `tmp`, with the
    shipped configuration but for the paths and `extra` (lines for [status] and [queue]);
    yields (process, log path, status socket) once it is following, stops it after."""
    d = tempfile.mkdtemp(dir=tmp)
    log, sock = f"{d}/mail.log", f"{d}/status.sock"
    open(log, "w").close()
    cfg = f"{d}/deferwatch.toml"
    Path(cfg).write_text(f"""[sources]
journal = false
files = ["{log}"]
lookback = "0s"
[state]
directory = "{d}/state"
[status]
socket = "{sock}"
{extra.get('status', '')}
[syslog]
socket = "{d}/no-syslog.sock"
[queue]
{extra.get('queue', '')}
""")
    err = open(f"{d}/stderr", "w")
    p = subprocess.Popen([binary, "run", "--config", cfg], stdout=subprocess.DEVNULL, stderr=err)
    try:
        for _ in range(600):
            if "alerts go to" in Path(f"{d}/stderr").read_text():
                break
            time.sleep(0.05)
        yield p, log, sock
    finally:
        p.terminate()
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        err.close()


def append(log, log_lines):
    """Appends the file `log_lines` to `log`, in 4 MiB writes."""
    with open(log, "a") as out, open(log_lines) as src:
        while True:
            chunk = src.read(1 << 22)
            if not chunk:
                break
            out.write(chunk)


def measure(binary, tmp, log_lines, messages, extra):
    """Starts the daemon on an empty file, appends the lines, waits until it has read them
    all and published the queue of them: (RSS MB, peak MB, messages in its queue, seconds)."""
    with daemon(binary, tmp, extra) as (p, log, sock):
        t0 = time.monotonic()
        append(log, log_lines)
        queued = None
        while time.monotonic() - t0 < 900:
            time.sleep(1)
            try:
                st = get(sock, "/v1/status?limit=0")
            except OSError:
                continue
            if st is None or st["lines"]["total"] < messages:
                continue
            queued = (st.get("queue") or {}).get("messages", 0)
            if "enabled = false" in extra.get("queue", "") or queued >= messages:
                # One more snapshot: the view of the last lines built and published.
                time.sleep(2)
                st = get(sock, "/v1/status?limit=0")
                queued = (st.get("queue") or {}).get("messages") if st.get("queue") else None
                break
        elapsed = time.monotonic() - t0
        rss, peak = bl.proc_rss_mb(p.pid), bl.proc_peak_rss_mb(p.pid)
        return rss, peak, queued, elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=str(bl.ROOT / ".build/release/deferwatch"))
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true", help="a tenth of the messages")
    ap.add_argument("--write", action="store_true")
    a = ap.parse_args()
    n = a.messages // (10 if a.quick else 1)
    cases = [
        ("as shipped: the queue and 16 MiB of recent lines", {"queue": "enabled = true"}),
        ("the queue, no recent lines (`trace_bytes = 0`)", {"queue": "enabled = true", "status": "trace_bytes = 0"}),
        ("neither (`[queue] enabled = false`, `trace_bytes = 0`)", {"queue": "enabled = false", "status": "trace_bytes = 0"}),
    ]
    rows = []
    with tempfile.TemporaryDirectory(prefix="deferwatch-bench-queue-") as tmp:
        lines = f"{tmp}/lines.log"
        generate(lines, n)
        size = os.path.getsize(lines) / 1e6
        results = []
        for name, extra in cases:
            rss, peak, queued, secs = measure(a.binary, tmp, lines, n, extra)
            results.append(rss)
            rows.append([name, f"{queued:,}" if queued is not None else "-", f"{rss:.0f} MB", f"{peak:.0f} MB", f"{secs:.1f} s"])
            print(f"queue_memory: {name}: rss {rss:.0f} MB, peak {peak:.0f} MB, {queued} queued, {secs:.1f} s", file=sys.stderr)
    info = bl.binary_info(a.binary)
    per_message = (results[1] - results[2]) * 1024 * 1024 / n
    recent = results[0] - results[1]
    verdict = (f"Target {'met' if results[0] < 200 else 'not met'}: {results[0]:.0f} MB as shipped "
               f"with {n:,} messages in flight.")
    text = f"""## A million messages in flight (issue 16)

Measured {bl.now_utc()} with {info}, by `Benchmarks/queue_memory.py{' --quick' if a.quick else ''}`:
`deferwatch run` following a file into which {n:,} distinct deferred Postfix messages
({size:.0f} MB; one deferral each, recipients at {DOMAINS:,} domains, timestamps over the
hour before the test) are appended at once; RSS is VmRSS once `/v1/status` shows every line
read and the queue of them all published (peak: VmHWM). Target: under 200 MB as shipped.

{bl.md_table(["daemon", "messages in its queue", "RSS", "peak RSS", "read and published in"], rows, ["l", "r", "r", "r", "r"])}

{verdict}

The queue costs {per_message:.0f} bytes a message in flight (the second row less the third,
over {n:,} messages); the recent lines of `status trace` cost {recent:.0f} MB (the first row
less the second) for their budget of 16 MiB: since 56949ab they are bytes in a ring of that
size, filled as lines come (before, as strings, they cost 23 MB and kept about half as many
lines).

Before 7d91b4e the same million messages took 428 MB (peak 562 MB) with checkpoints
turned off and more with them (446 MB at 543,000 messages): each queue view listed every
message before keeping the oldest 20,000, and each checkpoint encoded the queue as ten
million JSON values. The queue now goes to a file of its own, written in 64 KiB pieces.
Before the allocator settings of the daemon (SystemLimits.tuneAllocator: allocations of
256 KiB or more get pages of their own, two arenas, the heap trimmed after each checkpoint
and queue view) and the bounded listing of the queue view, the same run took 267 MB as
shipped and 259 MB without the recent lines (heaptrack: glibc's sliding mmap threshold had
kept the freed views and the grown tables' old buffers in the heap); a recipient record of
32 bytes rather than 40 (a 32-bit key) saved 8 MB more (227 MB as shipped). Then the
index of the messages became a table of its own, open addressing over 32-bit slots (about 8
bytes a message, where a `[Int: Int32]` took about 25), and the message record 40 bytes
rather than 56 (its last attempt is its recipients' newest; its host, MTA and at-risk mark
share 32 bits): 195 MB as shipped, 171 MB without the recent lines. What is left is mostly
the daemon of about 87 MB with 5,000 destinations tracked (the tracker's windows and
samples, issue 18).
"""
    print(text)
    if a.write:
        bl.update_benchmarks_md("queue", text)


if __name__ == "__main__":
    main()
