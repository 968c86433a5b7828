#!/usr/bin/env python3
"""deferwatch run following a file and a journal (issue 7): the rate it keeps up with, its
lag, and at a realistic 1,000 lines/s its CPU use and the delay from a deferral being written
to its alert reaching syslog.

The daemon runs with a temporary configuration: it follows a file (or a journal directory)
this script writes to, sends its alerts to a Unix datagram socket this script binds in place
of /dev/log, and its sd_notify messages (READY=1, STATUS=N lines, ...) to another one
(NOTIFY_SOCKET). How far it has read a file is taken from the position of its descriptor
(/proc/PID/fdinfo: it reads with read(2) in 1 MiB slices and processes each slice before
the next), checked against the line count of its STATUS messages; for a journal only
STATUS counts (sent with each checkpoint: checkpoint_every is shortened for that test).

  1. file, as fast as possible: a writer process appends pre-generated lines in 64 KiB
     writes as fast as it can; reported: the writer's rate, the rate the daemon read at
     until it had caught up, the largest lag (lines and seconds) and the time it took to
     catch up after the writer stopped.
  2. file, paced at the target rate (200,000 lines/s): whether the lag stays bounded.
  3. journal: systemd-journal-remote writes the same lines (journal export format) into a
     journal directory the daemon follows; it is slower than the daemon, so the same
     journal is also read as a backlog (first start with a lookback) for the daemon's own
     rate.
  4. realistic: 1,000 lines/s with current timestamps for --duration seconds, with a burst
     of 4 deferrals to a fresh domain every --burst-every seconds (each opens an alert:
     4 deferrals of 4 messages, all of the domain's attempts); reported: the daemon's CPU
     (utime + stime from /proc/PID/stat over the run) and the delay from the write of each
     burst's 4th deferral line to the arrival of its alert=open datagram (p50, p99, max).
"""

import argparse
import array
import bisect
import datetime
import json
import os
import random
import re
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

sys.dont_write_bytecode = True      # no __pycache__ in the repository
sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as bl  # noqa: E402

ROOT = bl.ROOT
JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"
mono = time.monotonic


# ---------------------------------------------------------------------------------------
# The daemon under test


class Daemon:
    """`deferwatch run` with a private configuration, state directory and sockets."""

    def __init__(self, binary, work, files=(), journal_dir=None, poll="250ms", checkpoint="5s",
                 lookback="0s", name="daemon", status=True):
        self.work = Path(work)
        self.work.mkdir(parents=True, exist_ok=True)
        state = self.work / f"{name}-state"
        shutil.rmtree(state, ignore_errors=True)
        state.mkdir()
        self.syslog_path = self.work / f"{name}-syslog.sock"
        self.notify_path = self.work / f"{name}-notify.sock"
        cfg = self.work / f"{name}.toml"
        cfg.write_text(textwrap.dedent(f"""\
            [sources]
            journal = {"true" if journal_dir else "false"}
            journal_directory = {json.dumps(str(journal_dir or ""))}
            files = {json.dumps([str(f) for f in files])}
            lookback = "{lookback}"
            poll_interval = "{poll}"

            [state]
            directory = {json.dumps(str(state))}
            checkpoint_every = "{checkpoint}"

            [syslog]
            socket = {json.dumps(str(self.syslog_path))}
            format = "rfc3164"
            """) + (f'\n[status]\nsocket = {json.dumps(str(self.work / f"{name}-status.sock"))}\n' if status else ""))
        self.config = cfg
        self.status = []      # (monotonic time, lines) from STATUS=
        self.syslog = []      # (monotonic time, datagram)
        self.ready = threading.Event()
        self._stop = False
        socks = []
        for p in (self.syslog_path, self.notify_path):
            try:
                p.unlink()
            except FileNotFoundError:
                pass
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            s.bind(str(p))
            socks.append(s)
        self.syslog_sock, self.notify_sock = socks
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()
        env = dict(os.environ, NOTIFY_SOCKET=str(self.notify_path))
        env.pop("WATCHDOG_USEC", None)
        self.stderr_path = self.work / f"{name}.stderr"
        self.proc = subprocess.Popen([binary, "run", "--config", str(cfg)], env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=open(self.stderr_path, "wb"))
        deadline = mono() + 30
        while not self.ready.wait(0.1):
            if self.proc.poll() is not None or mono() > deadline:
                self.stop()
                raise RuntimeError(f"deferwatch run did not send READY=1 (exit {self.proc.returncode}): "
                                   f"{self.stderr_text()}")

    def stderr_text(self):
        try:
            return self.stderr_path.read_text(errors="replace").strip()[-2000:]
        except OSError:
            return ""

    def _receive(self):
        sel = selectors.DefaultSelector()
        sel.register(self.syslog_sock, selectors.EVENT_READ, "syslog")
        sel.register(self.notify_sock, selectors.EVENT_READ, "notify")
        while not self._stop:
            for key, _ in sel.select(0.2):
                try:
                    data = key.fileobj.recv(65536)
                except OSError:
                    continue
                t = mono()
                if key.data == "syslog":
                    self.syslog.append((t, data))
                    continue
                for item in data.decode(errors="replace").split("\n"):
                    if item == "READY=1":
                        self.ready.set()
                    elif item.startswith("STATUS="):
                        m = re.match(r"STATUS=(\d+) lines", item)
                        if m:
                            self.status.append((t, int(m.group(1))))

    @property
    def pid(self):
        return self.proc.pid

    def cpu(self):
        return bl.proc_cpu_seconds(self.pid)

    def read_position(self, path):
        """The offset of the daemon's descriptor on `path` (None when it has none open)."""
        target = os.path.realpath(path)
        try:
            fds = os.listdir(f"/proc/{self.pid}/fd")
        except OSError:
            return None
        best = None
        for fd in fds:
            try:
                if os.readlink(f"/proc/{self.pid}/fd/{fd}") != target:
                    continue
                with open(f"/proc/{self.pid}/fdinfo/{fd}") as f:
                    pos = int(f.readline().split()[1])
                best = pos if best is None else max(best, pos)
            except (OSError, ValueError, IndexError):
                continue
        return best

    def last_status(self):
        return self.status[-1][1] if self.status else 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stop = True
        self._thread.join(2)
        self.syslog_sock.close()
        self.notify_sock.close()
        return self.proc.returncode


# ---------------------------------------------------------------------------------------
# Lines


def generate_pool(genlog, path, lines, sim_rate, seed, extra=()):
    """genlog lines (Postfix, RFC 3339) ending about now."""
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=lines / sim_rate)
    subprocess.run([sys.executable, str(genlog), "--format", "postfix", "--timestamps", "rfc3339",
                    "--lines", str(lines), "--rate", str(sim_rate), "--seed", str(seed),
                    "--start", start.strftime("%Y-%m-%dT%H:%M:%SZ"), *extra, "--out", str(path)], check=True)
    return path


def line_ends(path):
    """Offsets just past each newline: lines read = bisect_right(ends, bytes read)."""
    ends = array.array("q")
    base = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            i = block.find(b"\n")
            while i >= 0:
                ends.append(base + i + 1)
                i = block.find(b"\n", i + 1)
            base += len(block)
    return ends


WRITER = r"""
import json, os, sys, time
src, dst, rate, limit = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
data = open(src, "rb").read()
ready = sys.stdin.readline()          # go
fd = os.open(dst, os.O_WRONLY | os.O_APPEND)
log = []
off = 0
t0 = time.monotonic()
block = 65536
while off < len(data):
    now = time.monotonic()
    if now - t0 > limit:
        break
    if rate > 0:
        due = int((now - t0) * rate)   # bytes due by now at that rate
        if due <= off:
            time.sleep(min(0.002, (off - due + 1) / rate))
            continue
        end = min(len(data), due, off + block)
    else:
        end = min(len(data), off + block)
    nl = data.rfind(b"\n", off, end)
    end = nl + 1 if nl >= off else data.find(b"\n", end) + 1 or len(data)
    os.write(fd, data[off:end])
    off = end
    log.append((time.monotonic(), off))
os.close(fd)
json.dump({"start": t0, "log": log}, sys.stdout)
"""


def run_writer(src, dst, byte_rate=0.0, limit=1e9):
    p = subprocess.Popen([sys.executable, "-c", WRITER, str(src), str(dst), str(byte_rate), str(limit)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    return p


def percentile(xs, q):
    if not xs:
        return None
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


# ---------------------------------------------------------------------------------------
# 1 and 2: a file, as fast as possible and paced


def file_rate(binary, work, pool, ends, byte_rate=0.0, label="max"):
    total_bytes = ends[-1]
    total_lines = len(ends)
    log = work / f"{label}-mail.log"
    log.write_bytes(b"")
    d = Daemon(binary, work, files=[log], checkpoint="1s", name=f"file-{label}")
    try:
        cpu0 = d.cpu()
        w = run_writer(pool, log, byte_rate)
        time.sleep(0.2)               # the writer has loaded its lines
        w.stdin.write("go\n")
        w.stdin.flush()
        samples = []                  # (t, bytes read)
        t_caught = None
        deadline = mono() + 600
        while mono() < deadline:
            t = mono()
            pos = d.read_position(log)
            if pos is not None:
                samples.append((t, pos))
                if pos >= total_bytes:      # so the writer has written everything
                    t_caught = t
                    break
            time.sleep(0.01)
        out, _ = w.communicate()
        wlog = json.loads(out)
        # The line count of the STATUS messages, to check that every line was processed.
        status_deadline = mono() + 5
        while d.last_status() < total_lines and mono() < status_deadline:
            time.sleep(0.05)
        cpu = d.cpu() - cpu0
        hwm = bl.proc_peak_rss_mb(d.pid)
    finally:
        rc = d.stop()
    if t_caught is None:
        raise RuntimeError(f"the daemon did not catch up within 600 s: {d.stderr_text()}")
    w_start = wlog["start"]
    wtimes = [t for t, _ in wlog["log"]]
    woffs = [o for _, o in wlog["log"]]
    w_end = wtimes[-1]

    def written_at(t):        # bytes written by time t
        i = bisect.bisect_right(wtimes, t)
        return woffs[i - 1] if i else 0

    def write_time(off):      # when the byte at `off` was written
        i = bisect.bisect_left(woffs, off)
        return wtimes[min(i, len(wtimes) - 1)]

    lag_lines = []
    lag_secs = []
    for t, pos in samples:
        if t < w_start:
            continue
        written = written_at(t)
        behind = bisect.bisect_right(ends, written) - bisect.bisect_right(ends, pos)
        lag_lines.append(max(0, behind))
        lag_secs.append(t - write_time(pos + 1) if pos < written else 0.0)
    elapsed = t_caught - w_start
    # Steady rate: read between 10% and 90% of the file, while the writer was still ahead.
    steady = None
    a = next((s for s in samples if s[1] >= 0.1 * total_bytes), None)
    b = next((s for s in samples if s[1] >= 0.9 * total_bytes), None)
    if a and b and b[0] > a[0]:
        steady = (bisect.bisect_right(ends, b[1]) - bisect.bisect_right(ends, a[1])) / (b[0] - a[0])
    return {
        "lines": total_lines, "bytes": total_bytes,
        "writer_seconds": w_end - w_start, "writer_rate": total_lines / (w_end - w_start),
        "target_rate": byte_rate * total_lines / total_bytes if byte_rate else None,
        "caught_up_seconds": elapsed, "rate": total_lines / elapsed, "steady_rate": steady,
        "catch_up_after_writer": max(0.0, t_caught - w_end),
        "lag_lines_max": max(lag_lines, default=0), "lag_seconds_max": max(lag_secs, default=0.0),
        "lag_seconds_p50": percentile(lag_secs, 0.5), "lag_seconds_p99": percentile(lag_secs, 0.99),
        "status_lines": d.last_status(), "cpu_seconds": cpu, "cores": cpu / elapsed if elapsed else None,
        "peak_rss_mb": hwm, "exit": rc,
    }


# ---------------------------------------------------------------------------------------
# 3: a journal


BOOT_ID = b"0123456789abcdef0123456789abcdef"


def export_format(pool, out):
    """The pool's syslog lines as journal export entries; returns (entries, mail entries, entry ends)."""
    n = mail = 0
    ends = array.array("q")
    rx = re.compile(rb"^(\S+) (\S+) ([^:\[ ]+)(?:\[(\d+)\])?: (.*)$")
    with open(pool, "rb") as f, open(out, "wb") as o:
        for line in f:
            m = rx.match(line.rstrip(b"\n"))
            if not m:
                continue
            ts, host, ident, pid, msg = m.groups()
            rt = int(datetime.datetime.fromisoformat(ts.decode()).timestamp() * 1_000_000)
            o.write(b"__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=%s\n_HOSTNAME=%s\n"
                    b"SYSLOG_IDENTIFIER=%s\n_PID=%s\nPRIORITY=6\n_TRANSPORT=syslog\nMESSAGE=%s\n\n"
                    % (rt, 1_000_000 + n, BOOT_ID, host, ident, pid or b"1", msg))
            ends.append(o.tell())
            n += 1
            if ident.startswith(b"postfix") or ident.startswith(b"exim"):
                mail += 1
    return n, mail, ends


def wait_status_stable(d, expect, timeout, quiet=2.0):
    """Waits until STATUS says `expect` lines (or stops changing for `quiet` s); returns the
    time the final count was first reported."""
    deadline = mono() + timeout
    while mono() < deadline:
        if d.status and d.status[-1][1] >= expect:
            break
        time.sleep(0.05)
    final = d.last_status()
    t_final = next((t for t, n in d.status if n >= final), None)
    return final, t_final


def journal_rate(binary, work, pool, timeout=600):
    export = work / "journal-export.txt"
    entries, mail, eends = export_format(pool, export)
    results = {"entries": entries, "mail_entries": mail}

    # a) live: systemd-journal-remote writes while the daemon follows the directory.
    jdir = work / "journal-live"
    shutil.rmtree(jdir, ignore_errors=True)
    jdir.mkdir()
    # A first, tiny journal file, so the daemon has a journal to open and starts at its end.
    seed = work / "journal-seed.txt"
    seed.write_bytes(b"__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=1\n_BOOT_ID=%s\n_HOSTNAME=mx1\n"
                     b"SYSLOG_IDENTIFIER=bench\nMESSAGE=start\n\n" % (int(time.time() * 1e6), BOOT_ID))
    subprocess.run([JOURNAL_REMOTE, f"--output={jdir}/seed.journal", str(seed)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    d = Daemon(binary, work, journal_dir=jdir, checkpoint="250ms", name="journal-live")
    try:
        cpu0 = d.cpu()
        t0 = mono()
        with open(export, "rb") as src:
            w = subprocess.Popen([JOURNAL_REMOTE, f"--output={jdir}/remote.journal", "-"], stdin=src,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wsamples = []
            while w.poll() is None:
                try:
                    with open(f"/proc/{w.pid}/fdinfo/0") as f:
                        wsamples.append((mono(), int(f.readline().split()[1])))
                except (OSError, ValueError, IndexError):
                    pass
                time.sleep(0.05)
        t_wend = mono()
        final, t_final = wait_status_stable(d, mail, timeout)
        cpu = d.cpu() - cpu0
    finally:
        rc = d.stop()
    # Lag while writing: entries written (journal-remote's position in its input) minus mail
    # entries the daemon reported, at each STATUS.
    lags = []
    for t, n in d.status:
        if t0 <= t <= t_wend and wsamples:
            i = bisect.bisect_right([s[0] for s in wsamples], t)
            if i:
                written = bisect.bisect_right(eends, wsamples[i - 1][1])
                lags.append(max(0, written * mail / entries - n))
    results["live"] = {
        "writer_seconds": t_wend - t0, "writer_rate": entries / (t_wend - t0),
        "read_mail_entries": final, "caught_up_seconds": (t_final - t0) if t_final else None,
        "rate": entries / (t_final - t0) if t_final else None,
        "catch_up_after_writer": max(0.0, t_final - t_wend) if t_final else None,
        "lag_entries_max": max(lags, default=0), "cpu_seconds": cpu,
        "cores": cpu / (t_final - t0) if t_final else None, "exit": rc,
    }

    # b) backlog: the finished journal, read from its first entry (first start, lookback).
    d = Daemon(binary, work, journal_dir=jdir, checkpoint="250ms", lookback="24h", name="journal-backlog")
    try:
        t0 = d.status[0][0] if d.status else mono()
        cpu0 = d.cpu()
        final, t_final = wait_status_stable(d, mail, timeout)
        cpu = d.cpu() - cpu0
    finally:
        rc = d.stop()
    # READY comes after the sources are open; the backlog is read after it.
    results["backlog"] = {
        "read_mail_entries": final, "seconds": (t_final - t0) if t_final else None,
        "rate": entries / (t_final - t0) if t_final and t_final > t0 else None, "cpu_seconds": cpu, "exit": rc,
    }
    return results


# ---------------------------------------------------------------------------------------
# 4: realistic rate, alert delay


def realistic(binary, work, genlog, duration, rate, burst_every, seed=7):
    pool_path = work / "realistic-pool.log"
    generate_pool(genlog, pool_path, int(duration * rate) + 1000, 50, seed, ["--episodes", "none"])
    pool = []
    with open(pool_path, "rb") as f:
        for line in f:
            sp = line.find(b" ")
            pool.append(line[sp:])        # " mx1 postfix/...: ...\n", the timestamp is now's
    log = work / "realistic-mail.log"
    log.write_bytes(b"")
    d = Daemon(binary, work, files=[log], name="realistic")    # poll_interval and checkpoint_every as shipped
    rng = random.Random(seed)
    run_id = f"{os.getpid():x}"
    # The schedule: background lines evenly at `rate`, bursts at jittered times.
    events = [(i / rate, "bg", i) for i in range(int(duration * rate))]
    bursts = []
    t = 2.0
    while t < duration - 2:
        j = len(bursts)
        dom = f"burst{run_id}-{j}.example"
        bursts.append(dom)
        for k in range(4):
            events.append((t + k * 0.1, "burst", (j, k)))
        t += burst_every * (0.5 + rng.random())
    events.sort(key=lambda e: e[0])
    trigger = {}                                        # domain -> time its 4th deferral was written
    fd = os.open(log, os.O_WRONLY | os.O_APPEND)
    try:
        time.sleep(1.0)                                 # the daemon settles after READY
        cpu0 = d.cpu()
        t0 = mono()
        i = 0
        while i < len(events):
            now = mono() - t0
            if events[i][0] > now:
                time.sleep(min(0.001, events[i][0] - now))
                continue
            stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="microseconds").encode()
            batch = []
            trig = None
            while i < len(events) and events[i][0] <= now:
                _, kind, arg = events[i]
                if kind == "bg":
                    batch.append(stamp + pool[arg % len(pool)])
                else:
                    j, k = arg
                    dom = bursts[j]
                    qid = f"{0xB0000000 + j * 4 + k:X}"
                    batch.append(stamp + (
                        f" mx1 postfix/smtp[{20000 + k}]: {qid}: to=<user{k}@{dom}>, relay=mx.{dom}[192.0.2.{k + 1}]:25, "
                        f"delay=1, delays=0/0/0/1, dsn=4.7.28, status=deferred (host mx.{dom}[192.0.2.{k + 1}] said: "
                        f"421 4.7.28 rate limited (in reply to end of DATA command))\n").encode())
                    if k == 3:
                        trig = dom
                i += 1
            os.write(fd, b"".join(batch))
            if trig:
                trigger[trig] = mono()
        t_end = mono()
        time.sleep(2.0)                                 # the last alerts arrive
        cpu = d.cpu() - cpu0
        wall = mono() - t0
        rss = bl.proc_rss_mb(d.pid)
        hwm = bl.proc_peak_rss_mb(d.pid)
    finally:
        os.close(fd)
        rc = d.stop()
    opened = {}
    rx = re.compile(rb"alert=open .*?domain=(burst\S+\.example)")
    for t, data in d.syslog:
        m = rx.search(data)
        if m:
            dom = m.group(1).decode()
            opened.setdefault(dom, t)
    delays = [opened[dm] - trigger[dm] for dm in trigger if dm in opened]
    return {
        "seconds": t_end - t0, "rate": rate, "lines": int(duration * rate) + 4 * len(bursts),
        "bursts": len(trigger), "alerts": len(delays), "missed": len(trigger) - len(delays),
        "cpu_seconds": cpu, "cpu_percent": 100 * cpu / wall, "rss_mb": rss, "peak_rss_mb": hwm,
        "delay_p50": percentile(delays, 0.5), "delay_p99": percentile(delays, 0.99),
        "delay_max": max(delays, default=None), "delay_min": min(delays, default=None),
        "syslog_datagrams": len(d.syslog), "status_lines": d.last_status(), "exit": rc,
    }


# ---------------------------------------------------------------------------------------


def ms(x):
    return "-" if x is None else f"{x * 1000:.0f} ms"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin")
    ap.add_argument("--genlog", default=str(ROOT.parent / "shared/bench/genlog.py"))
    ap.add_argument("--data", default=str(ROOT / "bench-data"))
    ap.add_argument("--quick", action="store_true", help="a tenth of the lines, a shorter realistic run")
    ap.add_argument("--lines", type=int, help="lines for the keep-up tests (default 2,000,000; quick 200,000)")
    ap.add_argument("--paced-rate", type=float, default=200_000, help="lines/s of the paced test (0: none)")
    ap.add_argument("--duration", type=float, help="seconds of the realistic run (default 60; quick 20)")
    ap.add_argument("--realistic-rate", type=float, default=1000)
    ap.add_argument("--burst-every", type=float, default=1.0, help="mean seconds between deferral bursts")
    ap.add_argument("--no-journal", action="store_true")
    ap.add_argument("--only", help="comma-separated: max,paced,journal,realistic")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    ap.add_argument("--render", metavar="JSON", help="only print (and with --write, write) the section of "
                    "saved results (bench-data/results/follow-*.json)")
    args = ap.parse_args()
    if args.render:
        res = json.loads(Path(args.render).read_text())
        args.burst_every = res.get("burst_every", args.burst_every)
        md = markdown(res, args)
        print(md)
        if args.write:
            bl.update_benchmarks_md("follow", md, res["machine"])
        return 0
    if not args.bin:
        ap.error("--bin is needed")
    lines = args.lines or (200_000 if args.quick else 2_000_000)
    duration = args.duration or (20 if args.quick else 60)
    only = set(args.only.split(",")) if args.only else {"max", "paced", "journal", "realistic"}
    if args.no_journal or not os.access(JOURNAL_REMOTE, os.X_OK):
        if "journal" in only and not args.no_journal:
            print(f"follow: {JOURNAL_REMOTE} not found (package systemd-journal-remote): no journal test",
                  file=sys.stderr)
        only.discard("journal")
    if "run" not in bl.sh([args.bin, "--help"]):
        print(f"follow: {args.bin} has no run command", file=sys.stderr)
        return 2

    data = Path(args.data).resolve()
    work = Path(tempfile.mkdtemp(prefix="follow-", dir=data))
    started = bl.now_utc()
    load_start = bl.loadavg()
    busy0, t_all = bl.busy_jiffies(), mono()
    res = {"started": started, "quick": args.quick, "burst_every": args.burst_every, "binary": bl.binary_info(args.bin), "machine": bl.machine()}
    try:
        if only & {"max", "paced", "journal"}:
            print(f"follow: generating {lines} lines", file=sys.stderr)
            pool = generate_pool(args.genlog, work / "pool.log", lines, 500, 5)
            ends = line_ends(pool)
        if "max" in only:
            print("follow: file, writer as fast as it can", file=sys.stderr)
            res["max"] = file_rate(args.bin, work, pool, ends, 0.0, "max")
        if "paced" in only and args.paced_rate > 0:
            print(f"follow: file, writer at {args.paced_rate:.0f} lines/s", file=sys.stderr)
            res["paced"] = file_rate(args.bin, work, pool, ends, args.paced_rate * ends[-1] / len(ends), "paced")
        if "journal" in only:
            print("follow: journal, systemd-journal-remote as the writer; then the same journal as a backlog",
                  file=sys.stderr)
            res["journal"] = journal_rate(args.bin, work, pool)
        if "realistic" in only:
            print(f"follow: {args.realistic_rate:.0f} lines/s for {duration:.0f} s with deferral bursts",
                  file=sys.stderr)
            res["realistic"] = realistic(args.bin, work, args.genlog, duration, args.realistic_rate, args.burst_every)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    wall_all = mono() - t_all
    res["loadavg"] = [load_start, bl.loadavg()]
    res["busy_cores"] = (bl.busy_jiffies() - busy0) / bl.CLK_TCK / wall_all

    (data / "results").mkdir(exist_ok=True)
    (data / "results" / f"follow-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(json.dumps(res, indent=1))
    md = markdown(res, args)
    print()
    print(md)
    if args.write:
        bl.update_benchmarks_md("follow", md, res["machine"])
        print("follow: wrote BENCHMARKS.md", file=sys.stderr)
    return 0


def markdown(res, args):
    out = ["## Following logs (`deferwatch run`)\n",
           f"Measured {res['started']}{' (quick sizes)' if res['quick'] else ''}; {res['binary']}. "
           f"Load average {res['loadavg'][0]} at the start, {res['loadavg'][1]} at the end; the whole machine "
           f"(this script, its writers and the daemon included) was {res['busy_cores']:.2f} cores busy on average. "
           "Method: `Benchmarks/follow.py --help`.\n",
           "Command: `NOTIFY_SOCKET=SOCK deferwatch run --config CFG`, CFG holding `[sources] journal = false, "
           "files = [FILE]` (or `journal = true, journal_directory = DIR`), `lookback = \"0s\"` (the journal "
           "backlog: `\"24h\"`), `poll_interval = \"250ms\"`; `[state] directory` a fresh one per test, "
           "`checkpoint_every` 1 s for the file tests, 250 ms for the journal (STATUS= comes with each "
           "checkpoint), the shipped 5 s at 1,000 lines/s; `[syslog] socket` a datagram socket of the script, "
           "`format = \"rfc3164\"`; `[status] socket` a private path. Everything else as shipped.\n"]
    rows = []
    for key, what in (("max", "file, writer as fast as it can"), ("paced", "file, writer paced")):
        r = res.get(key)
        if not r:
            continue
        target = f" at {r['target_rate'] / 1000:.0f}k lines/s" if r.get("target_rate") else ""
        rows.append([what + target, f"{r['lines']:,}", f"{r['writer_rate'] / 1000:.0f}k",
                     f"{r['rate'] / 1000:.0f}k", f"{r['steady_rate'] / 1000:.0f}k" if r.get("steady_rate") else "-",
                     f"{r['lag_lines_max']:,}", f"{r['lag_seconds_max']:.2f} s", f"{r['catch_up_after_writer']:.2f} s",
                     f"{r['cores']:.2f}" if r.get("cores") else "-", f"{r['peak_rss_mb']:.0f}",
                     "yes" if r["status_lines"] >= r["lines"] else f"no ({r['status_lines']:,})"])
    j = res.get("journal")
    if j:
        lv = j["live"]
        rows.append(["journal, systemd-journal-remote writing", f"{j['entries']:,}", f"{lv['writer_rate'] / 1000:.0f}k",
                     f"{lv['rate'] / 1000:.0f}k" if lv.get("rate") else "-", "-", f"{lv['lag_entries_max']:,.0f}", "-",
                     f"{lv['catch_up_after_writer']:.2f} s" if lv.get("catch_up_after_writer") is not None else "-",
                     f"{lv['cores']:.2f}" if lv.get("cores") else "-", "-",
                     "yes" if lv["read_mail_entries"] >= j["mail_entries"] else f"no ({lv['read_mail_entries']:,})"])
        bk = j["backlog"]
        rows.append(["journal, the same read as a backlog", f"{j['entries']:,}", "-",
                     f"{bk['rate'] / 1000:.0f}k" if bk.get("rate") else "-", "-", "-", "-", "-",
                     f"{bk['cpu_seconds'] / bk['seconds']:.2f}" if bk.get("seconds") else "-", "-",
                     "yes" if bk["read_mail_entries"] >= j["mail_entries"] else f"no ({bk['read_mail_entries']:,})"])
    if rows:
        out.append("### Keeping up\n")
        out.append("Postfix lines from genlog.py (RFC 3339, timestamps ending at the start of the test). "
                   "**daemon lines/s** = lines / (time from the first write until the daemon had read the last "
                   "line); *steady* = the rate between 10% and 90% of the file. Lag = lines written but not yet "
                   "read, and the age of the oldest unread line. Journal entries: every line is one entry; "
                   "`STATUS=` counts only the mail entries, and the check column compares it with theirs.\n")
        if res["quick"]:
            out.append("At quick sizes the file tests last about a second or less: the daemon's 250 ms poll "
                       "interval weighs on *daemon lines/s*; *steady* is the better figure.\n")
        out.append(bl.md_table(["test", "lines", "writer lines/s", "daemon lines/s", "steady", "max lag lines",
                                "max lag", "catch-up after writer", "daemon cores", "peak RSS MB", "all read"], rows))
    r = res.get("realistic")
    if r:
        out.append("\n### At 1,000 lines/s\n")
        out.append(f"{r['seconds']:.0f} s of Postfix lines with current timestamps at {r['rate']:.0f} lines/s, "
                   f"the shipped poll_interval (250 ms) and checkpoint_every (5 s); a burst of 4 deferrals to a "
                   f"fresh domain about every {args.burst_every:g} s, each opening one alert "
                   f"({r['bursts']} bursts, {r['alerts']} alerts received, {r['missed']} missing). Delay: from the "
                   "write of the 4th deferral line to the arrival of the `alert=open` datagram on the syslog socket.\n")
        out.append(bl.md_table(["CPU (% of one core)", "CPU s", "RSS MB", "alert delay p50", "p99", "max"],
                               [[f"{r['cpu_percent']:.2f}%", f"{r['cpu_seconds']:.2f}", f"{r['rss_mb']:.0f}",
                                 ms(r["delay_p50"]), ms(r["delay_p99"]), ms(r["delay_max"])]]))
    out.append("\n### Targets (issue 7)\n")
    t = []
    if res.get("max"):
        v = res["max"]["rate"]
        t.append(f"- Keeps up with at least 200,000 lines/s (file, writer as fast as it can): "
                 f"{v:,.0f} lines/s {'✓' if v >= 200_000 else '✗'}")
    if res.get("paced") and res["paced"].get("target_rate"):
        p = res["paced"]
        t.append(f"- Paced at {p['target_rate']:,.0f} lines/s: largest lag {p['lag_seconds_max']:.2f} s, "
                 f"caught up {p['catch_up_after_writer']:.2f} s after the writer stopped")
    if j and j["live"].get("rate"):
        lv = j["live"]
        kept = lv["rate"] >= 0.9 * lv["writer_rate"]
        t.append(f"- Journal: systemd-journal-remote wrote {lv['writer_rate']:,.0f} entries/s; the daemon "
                 + (f"kept up ({lv['rate']:,.0f} entries/s, the writer being the limit)" if kept else
                    f"fell behind ({lv['rate']:,.0f} entries/s)")
                 + "; the same journal read as a backlog: "
                 + (f"{j['backlog']['rate']:,.0f} entries/s {'✓' if j['backlog']['rate'] >= 200_000 else '✗'}"
                    if j["backlog"].get("rate") else "-"))
    if r:
        t.append(f"- Under 2% of a core at 1,000 lines/s: {r['cpu_percent']:.2f}% {'✓' if r['cpu_percent'] < 2 else '✗'}")
        if r["delay_p99"] is not None:
            t.append(f"- Alert delay p99 under 1 s: {r['delay_p99'] * 1000:.0f} ms {'✓' if r['delay_p99'] < 1 else '✗'}")
    out.append("\n".join(t) + "\n")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
