"""deferwatch end to end, the live part: `deferwatch run` while the MTA writes its log.

run.py drives one LivePhase per MTA phase:

  start()        MTA, rsyslogd and receivers are up, no mail sent yet: starts
                 `deferwatch run --alerts-to-stdout` on a test configuration (short alert
                 window and resolve_after) that follows the phase's primary log file (Postfix:
                 the traditional-format syslog file; Exim: its mainlog) from its end, writes
                 alerts to the harness's rsyslogd on /dev/log and serves its status socket.
  settled()      every scripted deferral happened, the MTA still runs: one status snapshot is
                 checked against `deferwatch analyze --events` of exactly the bytes the daemon
                 had read (the snapshot names its byte position), then the harness waits until
                 the alerts of every receiver that recovered have resolved.
  mta_stopped()  the MTA stopped, rsyslogd still runs: the daemon catches up with the end of
                 the file, the final snapshot is checked the same way, the daemon is stopped.
  after_phase()  rsyslogd stopped: the alert lines in rsyslog's file are checked (the same
                 transitions as the daemon's standard output; the expected alerts opened, the
                 recovered ones resolved, none for the receiver that only accepts), then the
                 journal pass: the same lines (from the RFC 3339 syslog file) become a journal
                 file made by systemd-journal-remote, half before and half after a second
                 daemon starts on it, and its counters must equal the first daemon's and
                 `analyze --journal`'s.

What a snapshot check compares (status JSON from `deferwatch status [alerts|destinations]
--json`; keys as in StatusReport.swift):

  attempts       [{mta, status, count}], since the daemon started: equal to the events
                 analyze finds in the file up to the snapshot's position, by mta and status.
  deferrals      [{provider, cause, count}]: equal to analyze's deferred events by provider
                 ("none" when null) and cause.
  lines          total and own (deferwatch's own syslog lines, skipped): equal to the lines
                 between the daemon's first position and this one.
  destinations   [{scope, key, attempts, deferrals, causes: [{cause, deferrals, messages}]}]:
                 equal to a model of the tracker's sliding window applied to analyze's events
                 (every domain, relay and provider key; attempts of the whole window; a
                 greylisting deferral counts from a message's third one on; a message counts
                 once per window), at the snapshot's log_time; and, per the scenario, every
                 receiver that should alert is listed with its cause, the accept-only
                 receiver and the normal greylister are not.
  alerts         the open alerts: the same ids, causes and keys as the transitions the daemon
                 printed on standard output so far; `status alerts --json` and
                 `status destinations --json` give the same as `status --json` of the same
                 snapshot.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

from common import WORK, HarnessError, log, parse_time, sh, short, stop_process

JOURNAL_REMOTE = Path("/lib/systemd/systemd-journal-remote")

# The test configuration: alerts must open and resolve within a phase. Every cause gets
# resolve_after 30s (greylisting, mailbox and other have their own built-in 30m/15m).
WINDOW_S = 300
BUCKET_S = 10
RESOLVE_AFTER_S = 30
GREYLISTING_REPEATS = 3
CONFIG = """\
# deferwatch end-to-end test: one live daemon (written by Tests/EndToEnd/live.py).
[sources]
journal = {journal}
journal_directory = "{journal_dir}"
files = [{files}]
lookback = "{lookback}"
poll_interval = "100ms"

[state]
directory = "{state}"
checkpoint_every = "1s"

[status]
socket = "{status}"
socket_mode = "0600"

[syslog]
socket = "{syslog}"
facility = "mail"

# Short window and resolve times, so alerts open and resolve within a phase.
[alerts]
window = "{window}s"
bucket = "{bucket}s"
greylisting_repeats = {grey}

[alerts.default]
resolve_after = "{resolve}s"

[alerts.cause.greylisting]
resolve_after = "{resolve}s"

[alerts.cause.mailbox]
resolve_after = "{resolve}s"

[alerts.cause.other]
resolve_after = "{resolve}s"

# The DNS checks of alerts, against the harness's dnsmasq (DNS_RECORDS): the sending
# address is given (the MTAs send from loopback, which no receiver names), the sender
# domain comes from the log (qmgr from=, Exim <=).
[dns]
servers = [{dns}]
timeout = "1s"
attempts = 1
blocklists = ["bl.deferwatch-e2e.example"]

[identity]
addresses = ["{ip}"]
helo = "mail.deferwatch-e2e.example"

[checks]
enabled = {checks}
interval = "0s"
"""

# The zones the harness's dnsmasq serves for the checks: the sending address 203.0.113.77
# has no PTR and is listed in the test blocklist; the HELO name points elsewhere; the
# scenario's sender domain has an SPF record that does not authorise it and no MX, its
# organisational domain a DMARC record.
SENDING_IP = "203.0.113.77"
DNS_ZONES = ["deferwatch-e2e.example", "113.0.203.in-addr.arpa"]
DNS_RECORDS = [
    "host-record=mail.deferwatch-e2e.example,192.0.2.25",
    "txt-record=sender.deferwatch-e2e.example,\"v=spf1 ip4:192.0.2.0/24 -all\"",
    "txt-record=_dmarc.deferwatch-e2e.example,\"v=DMARC1; p=reject\"",
    "address=/77.113.0.203.bl.deferwatch-e2e.example/127.0.0.2",
    "txt-record=77.113.0.203.bl.deferwatch-e2e.example,\"listed by the end-to-end test\"",
]
# What the checks of each checked cause must say: the verdict, and the findings in short
# form (problems first).
EXPECTED_CHECKS = {
    "reverse_dns": ("confirmed", "ptr=missing helo=mismatch"),
    "authentication": ("confirmed", "ptr=missing spf=fail mx=none dmarc=reject"),
    "reputation": ("confirmed", "dnsbl=listed"),
}
DNSMASQ = Path("/usr/sbin/dnsmasq")


class DnsServer:
    """dnsmasq on 127.0.0.1 and a free port, answering only from DNS_RECORDS (NXDOMAIN for
    other names of DNS_ZONES, REFUSED elsewhere); its query log in out_dir."""

    def __init__(self, out_dir: Path, name: str) -> None:
        self.dir = WORK / f"dns-{name}"
        self.log_path = out_dir / f"{name}-dnsmasq.log"
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def start(self) -> None:
        if not DNSMASQ.exists():
            raise HarnessError(f"{DNSMASQ} is needed (apt-get install dnsmasq-base)")
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        conf = [f"port={self.port}", "listen-address=127.0.0.1", "bind-interfaces", "no-resolv",
                "no-hosts", "no-poll", "local-ttl=300", "cache-size=0", "log-queries",
                "user=root"] + [f"local=/{z}/" for z in DNS_ZONES] + DNS_RECORDS
        (self.dir / "dnsmasq.conf").write_text("\n".join(conf) + "\n")
        self.log_path.write_text("")
        self.proc = subprocess.Popen([str(DNSMASQ), f"--conf-file={self.dir / 'dnsmasq.conf'}",
                                      "--keep-in-foreground", "--pid-file=",
                                      f"--log-facility={self.log_path}"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, close_fds=False)
        deadline = time.monotonic() + 20
        while "started" not in self.log_path.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise HarnessError(f"dnsmasq did not start: {self.log_path.read_text()[-500:]}")
            time.sleep(0.1)

    @property
    def server(self) -> str:
        return f'"127.0.0.1:{self.port}"'

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, 5)
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)

SYSLOG_TAG = re.compile(rb"^(?:\S+ +\S+ +\S+|\d{4}-\d\d-\d\dT\S+) \S+ deferwatch\[\d+\]: (.*)$")
KV = re.compile(r'([a-z_]+)=("(?:[^"\\]|\\.)*"|\S*)')
RFC3339_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT[0-9:.]+(?:Z|[+-]\d\d:\d\d)) (\S+) "
                          r"([^\s\[\]:]+)(?:\[(\d+)\])?: ?(.*)$")


def us(t: str) -> int:
    """RFC 3339 text to microseconds since the epoch (exact)."""
    d = parse_time(t)
    return (d - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) // dt.timedelta(microseconds=1)


def hms(t_us: int | None) -> str:
    if t_us is None:
        return "-"
    return dt.datetime.fromtimestamp(t_us / 1e6, dt.timezone.utc).strftime("%H:%M:%S")


def parse_kv(text: str) -> dict[str, str]:
    out = {}
    for m in KV.finditer(text):
        v = m.group(2)
        if v.startswith('"') and v.endswith('"') and len(v) >= 2:
            v = v[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        out[m.group(1)] = v
    return out


def analyze(dw: Path, args: list[str], out_copy: Path | None = None) -> list[dict]:
    cp = sh([str(dw), "analyze", "--events"] + args, check=False, quiet=True, timeout=120)
    if out_copy is not None:
        out_copy.write_bytes(cp.stdout)
    if cp.returncode != 0:
        raise HarnessError(f"deferwatch analyze --events {' '.join(args)} exited "
                           f"{cp.returncode}: {cp.stderr.decode(errors='replace')[-2000:]}")
    return [json.loads(line) for line in cp.stdout.decode().splitlines() if line.strip()]


# ---------------------------------------------------------------------------------------
# What the daemon's counters must be, from analyze's events
# ---------------------------------------------------------------------------------------

def attempt_counts(events: list[dict]) -> dict[tuple[str, str], int]:
    c = collections.Counter((e.get("mta"), e.get("status")) for e in events)
    return dict(c)


def deferral_counts(events: list[dict]) -> dict[tuple[str, str], int]:
    c = collections.Counter((e.get("provider") or "none", e.get("cause") or "other")
                            for e in events if e.get("status") == "deferred")
    return dict(c)


def status_attempts(st: dict) -> dict[tuple[str, str], int]:
    return {(a["mta"], a["status"]): a["count"] for a in st.get("attempts_by_mta", []) if a["count"]}


def status_deferrals(st: dict) -> dict[tuple[str, str], int]:
    return {(d["provider"], d["cause"]): d["count"] for d in st.get("deferrals", []) if d["count"]}


def model_destinations(events: list[dict], now_us: int) -> dict[tuple[str, str], dict]:
    """The tracker's sliding windows (SlidingWindow, DeferralTracker.deferral) replayed on
    analyze's events: per (scope, key) of one sending host, attempts in the window ending
    with the bucket of `now_us`, and per cause the deferrals and distinct messages that
    count. Only keys with a counted deferral in the window are deferring destinations."""
    bucket = BUCKET_S * 1_000_000
    window = WINDOW_S * 1_000_000
    nb = window // bucket
    nowb = now_us // bucket
    lo = nowb - nb + 1
    grey: collections.Counter = collections.Counter()
    last_counted: dict[tuple, int] = {}
    keys: dict[tuple[str, str], dict] = {}
    for e in events:
        status = e.get("status")
        if status not in ("sent", "deferred", "bounced") or not e.get("time"):
            continue
        t = us(e["time"])
        b = t // bucket
        counts = new = False
        cause = e.get("cause") or "other"
        if status == "deferred":
            mk = (e.get("host"), e.get("queue_id"), e.get("domain"))
            if cause == "greylisting":
                grey[mk] += 1
            counts = cause != "greylisting" or grey[mk] >= GREYLISTING_REPEATS
            prev = last_counted.get(mk)
            new = counts and (prev is None or t - prev > window)
            if counts:
                last_counted[mk] = t if prev is None else max(prev, t)
        if not (lo <= b <= nowb):
            continue
        for scope, name in (("domain", e.get("domain")), ("relay", e.get("relay")),
                            ("provider", e.get("provider"))):
            if not name:
                continue
            k = keys.setdefault((scope, name), {"attempts": 0, "causes": {}})
            k["attempts"] += 1
            if counts:
                c = k["causes"].setdefault(cause, [0, 0])
                c[0] += 1
                c[1] += 1 if new else 0
    out = {}
    for k, v in keys.items():
        if v["causes"]:
            out[k] = {"attempts": v["attempts"],
                      "deferrals": sum(c[0] for c in v["causes"].values()),
                      "causes": {c: tuple(n) for c, n in v["causes"].items()}}
    return out


def status_destinations(dests: list[dict]) -> dict[tuple[str, str], dict]:
    out = {}
    for d in dests:
        if d.get("host"):
            continue
        out[(d["scope"], d["key"])] = {
            "attempts": d["attempts"]["total"], "deferrals": d["attempts"]["deferred"],
            "causes": {c["cause"]: (c["deferrals"], c["messages"]) for c in d["causes"]}}
    return out


def fmt_dest(v: dict | None) -> str:
    if v is None:
        return "(not listed)"
    causes = ", ".join(f"{c} {n[0]}/{n[1]}msg" for c, n in sorted(v["causes"].items()))
    return f"attempts {v['attempts']}, deferrals {v['deferrals']} ({causes})"


def diff_counts(what: str, want: dict, got: dict, want_label: str, got_label: str) -> str | None:
    if want == got:
        return None
    lines = [f"{what}: {got_label} differs from {want_label}:",
             f"      {'key':<44} {want_label:>14} {got_label:>14}"]
    for k in sorted(set(want) | set(got), key=str):
        a, b = want.get(k, 0), got.get(k, 0)
        mark = "  " if a == b else "! "
        lines.append(f"    {mark}{'/'.join(map(str, k)) if isinstance(k, tuple) else k:<44} "
                     f"{a:>14} {b:>14}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# One daemon
# ---------------------------------------------------------------------------------------

class Daemon:
    """`deferwatch run --alerts-to-stdout` with a test configuration in its own directory
    (state, status socket, pid file); standard output and error go to out_dir."""

    def __init__(self, dw: Path, name: str, out_dir: Path, *, files: list[Path] = (),
                 journal_dir: Path | None = None, lookback: str = "0s",
                 syslog_socket: Path, dns: "DnsServer | None" = None) -> None:
        self.dns = dns
        self.dw = dw
        self.name = name
        self.dir = WORK / f"live-{name}"
        self.config = self.dir / "deferwatch.toml"
        self.socket = self.dir / "status.sock"
        self.pidfile = self.dir / "deferwatch.pid"
        self.alerts_path = out_dir / f"{name}-alerts.jsonl"
        self.stderr_path = out_dir / f"{name}-stderr.txt"
        self.files = [str(f) for f in files]
        self.journal_dir = journal_dir
        self.lookback = lookback
        self.syslog_socket = syslog_socket
        self.proc: subprocess.Popen | None = None
        self.returncode: int | None = None

    def start(self) -> dict:
        shutil.rmtree(self.dir, ignore_errors=True)
        (self.dir / "state").mkdir(parents=True)
        self.config.write_text(CONFIG.format(
            journal="true" if self.journal_dir else "false",
            journal_dir=str(self.journal_dir or ""),
            files=", ".join(json.dumps(f) for f in self.files), lookback=self.lookback,
            state=self.dir / "state", status=self.socket, syslog=self.syslog_socket,
            window=WINDOW_S, bucket=BUCKET_S, resolve=RESOLVE_AFTER_S,
            grey=GREYLISTING_REPEATS, dns=self.dns.server if self.dns else "", ip=SENDING_IP,
            checks="true" if self.dns else "false"))
        sh([str(self.dw), "check-config", str(self.config)], quiet=True)
        shutil.copyfile(self.config, self.alerts_path.parent / f"{self.name}.toml")
        cmd = [str(self.dw), "run", "--config", str(self.config), "--alerts-to-stdout"]
        log("$ " + " ".join(cmd))
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=open(self.alerts_path, "wb"),
                                     stderr=open(self.stderr_path, "wb"))
        self.pidfile.write_text(f"{self.proc.pid}\n")
        deadline = time.monotonic() + 20
        while True:
            st = self.status(quiet_fail=True)
            if st is not None:
                return st
            if self.proc.poll() is not None:
                raise DaemonFailed(f"deferwatch run ({self.name}) exited {self.proc.returncode} "
                                   f"at start: {self.stderr()[-2000:]}")
            if time.monotonic() > deadline:
                raise DaemonFailed(f"deferwatch run ({self.name}): no status answer within 20s: "
                                   f"{self.stderr()[-2000:]}")
            time.sleep(0.2)

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def get(self, *args: str, quiet_fail: bool = False) -> dict | None:
        cmd = [str(self.dw), "status", *args, "--socket", str(self.socket), "--json"]
        cp = sh(cmd, check=False, quiet=True, timeout=20)
        if cp.returncode != 0:
            if quiet_fail:
                return None
            raise DaemonFailed(f"{' '.join(cmd)} exited {cp.returncode}: "
                               f"{(cp.stdout + cp.stderr).decode(errors='replace')[-1000:]}")
        return json.loads(cp.stdout.decode())

    def status(self, quiet_fail: bool = False) -> dict | None:
        return self.get("summary", "--limit", "1000", quiet_fail=quiet_fail)

    def consistent_status(self) -> tuple[dict, list[dict], list[dict], list[str]]:
        """status --json, status alerts --json and status destinations --json of one
        snapshot taken after this call began (asked until two summaries around them show
        the same generated_at), with the alert transitions the daemon had printed before
        and after it; and the problems when the three answers disagree."""
        begun = time.time()
        before_t = self.transitions()
        for _ in range(20):
            before = self.status()
            if us(before["generated_at"]) <= begun * 1e6:
                time.sleep(0.2)  # a snapshot older than the transitions read
                continue
            alerts = self.get("alerts")
            dests = self.get("destinations", "--limit", "1000")
            after = self.status()
            if before["generated_at"] != after["generated_at"]:
                time.sleep(0.15)
                continue
            after_t = self.transitions()
            problems = []
            if alerts.get("alerts") != before.get("alerts"):
                problems.append(f"status alerts --json and status --json of the same snapshot "
                                f"differ:\n      {short(json.dumps(alerts), 600)}\n      "
                                f"{short(json.dumps(before.get('alerts')), 600)}")
            if dests.get("destinations") != before.get("destinations") or \
                    dests.get("window") != before.get("window"):
                problems.append(f"status destinations --json and status --json of the same "
                                f"snapshot differ:\n      {short(json.dumps(dests), 600)}\n      "
                                f"{short(json.dumps(before.get('destinations')), 600)}")
            return before, before_t, after_t, problems
        raise DaemonFailed(f"deferwatch status ({self.name}): no two answers of the same "
                           f"snapshot in 20 tries")

    def printed(self) -> list[dict]:
        out = []
        try:
            text = self.alerts_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return out
        for line in text.splitlines():
            if line.strip():
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass  # being written
        return out

    def transitions(self) -> list[dict]:
        """The alert transitions printed (not the alerts' DNS checks)."""
        return [t for t in self.printed() if t.get("state") != "checked"]

    def checks(self) -> list[dict]:
        """What the DNS checks of alerts found, as printed (`state: checked`)."""
        return [t for t in self.printed() if t.get("state") == "checked"]

    def stop(self) -> int | None:
        if self.proc is None:
            return self.returncode
        if stop_process(self.proc, 20):
            log(f"deferwatch run ({self.name}) did not stop within 20s of SIGTERM: killed")
        self.returncode = self.proc.returncode
        self.proc = None
        self.pidfile.unlink(missing_ok=True)
        return self.returncode


class DaemonFailed(Exception):
    """deferwatch itself failed (a test failure, not a harness failure)."""


def open_alert_ids(transitions: list[dict]) -> dict[int, dict]:
    last: dict[int, dict] = {}
    for t in transitions:
        last[t["id"]] = t
    return {i: t for i, t in last.items() if t.get("state") != "resolve"}


# ---------------------------------------------------------------------------------------
# The live checks of one phase
# ---------------------------------------------------------------------------------------

class LivePhase:
    def __init__(self, run, followed_label: str, followed: Path, syslog_file: Path,
                 rfc3339_file: Path, syslog_socket: Path, resolve_timeout: float) -> None:
        self.run = run
        self.label = followed_label
        self.followed = followed
        self.syslog_file = syslog_file
        self.rfc3339_file = rfc3339_file
        self.resolve_timeout = resolve_timeout
        self.dns = DnsServer(run.out_dir, run.name)
        self.daemon = Daemon(run.deferwatch, f"{run.name}-live", run.out_dir,
                             files=[followed], syslog_socket=syslog_socket, dns=self.dns)
        self.broken = False
        self.start_pos = 0
        self.start_lines = (0, 0)
        self.snapshots: dict[str, dict] = {}
        self.final_counts: dict[str, dict] = {}
        self.dest_causes: dict[str, dict] = {}  # per domain, at the settled snapshot
        self.mta_stopped_at: int | None = None
        self.syslog_alerts: list[dict] = []
        self.syslog_checks: list[dict] = []
        self.journal: dict = {}
        self.expected_alerts: set[tuple[str, str]] = {
            (d, r.cause) for r in run.scenario.receivers if r.alert for d in r.domains}

    # -- helpers --------------------------------------------------------------------------

    def problem(self, text: str) -> None:
        self.run.problems.append(f"{self.run.name}/live: {text}")
        log(f"PROBLEM {self.run.problems[-1]}")

    def guard(self, fn, *args) -> None:
        if self.broken:
            return
        try:
            fn(*args)
        except DaemonFailed as e:
            self.broken = True
            self.problem(str(e))
            self.daemon.stop()

    def source(self, st: dict, name: str) -> dict | None:
        for s in st.get("sources", []):
            if s.get("name") == name:
                return s
        return None

    # -- hooks ----------------------------------------------------------------------------

    def start(self) -> None:
        self.guard(self._start)

    def _start(self) -> None:
        self.dns.start()
        self.daemon.start()
        # The snapshot published before the first read says "waiting for the file" at
        # position 0; the next one (a second later) has the file open at its end.
        deadline = time.monotonic() + 10
        while True:
            st = self.daemon.status()
            src = self.source(st, str(self.followed))
            if src is None:
                raise DaemonFailed(f"status names no source {self.followed}: "
                                   f"{json.dumps(st.get('sources'))}")
            if src.get("state") == "following":
                break
            if time.monotonic() > deadline:
                raise DaemonFailed(f"{self.followed} exists, but the daemon's status still says "
                                   f"{json.dumps(src)} after 10s")
            time.sleep(0.3)
        if int(src["position"]) != self.followed.stat().st_size:
            log(f"note: the daemon starts at byte {src['position']} of "
                f"{self.followed.stat().st_size} (lines arrived meanwhile)")
        self.start_pos = int(src["position"])
        self.start_lines = (st["lines"]["total"], st["lines"]["own"])
        (self.run.out_dir / f"{self.daemon.name}-status-start.json").write_text(
            json.dumps(st, indent=1) + "\n")
        if status_attempts(st):
            self.problem(f"the daemon counts attempts before any mail was sent: "
                         f"{status_attempts(st)}")
        log(f"live daemon follows {self.followed} from byte {self.start_pos}")

    def settled(self) -> None:
        self.guard(self._settled)

    def _settled(self) -> None:
        st = self.snapshot("settled")
        self.check_scenario_destinations(st)
        self.wait_for_resolves()
        self.check_queue()

    def check_queue(self) -> None:
        """`status queue --compare MTA` against the MTA's own queue (postqueue -j, exim -bp):
        the same messages, asked again for up to 20 s while the daemon catches up with a
        retry that is under way."""
        mta = self.run.name
        deadline = time.monotonic() + 20
        while True:
            doc = self.daemon.get("queue", "--compare", mta, "--limit", "100")
            recs = [r for r in doc.get("reconciliation") or [] if r.get("mta") == mta]
            r = recs[0] if recs else None
            same = (r is not None and r.get("note") is None and r["queued"] == r["seen"]
                    and not r["only_in_logs"] and not r["only_in_queue"])
            if same or time.monotonic() > deadline:
                break
            time.sleep(1)
        (self.run.out_dir / "live-queue.json").write_text(json.dumps(doc, indent=1) + "\n")
        if not same:
            what = r["command"] if r else f"the {mta} queue"
            self.problem(f"status queue and {what} differ: {json.dumps(r)}")
            return
        domains = sorted({row["name"] for row in doc.get("rows", []) if row["scope"] == "domain"})
        log(f"queue: {doc['messages']} deferred messages ({', '.join(domains) or 'none'}), the same as {r['command']}")
        self.run.notes.append(f"queue: status queue = {r['command']}: {r['queued']} messages")
        if doc["messages"] == 0:
            self.problem("the queue is empty at the end of the phase: the scenario's receivers that never accept should leave mail there")

    def mta_stopped(self) -> None:
        self.mta_stopped_at = us(dt.datetime.now(dt.timezone.utc).isoformat())
        self.guard(self._mta_stopped)
        self.stop()

    def _mta_stopped(self) -> None:
        # Catch up with the end of the file (Postfix's last lines; deferwatch's own).
        deadline = time.monotonic() + 30
        while True:
            st = self.daemon.status()
            src = self.source(st, str(self.followed))
            if src and int(src["position"]) == self.followed.stat().st_size:
                break
            if time.monotonic() > deadline:
                raise DaemonFailed(f"the daemon did not reach the end of {self.followed} within "
                                   f"30s of the MTA stopping: {json.dumps(src)}")
            time.sleep(0.3)
        self.snapshot("final")
        for t in open_alert_ids(self.daemon.transitions()).values():
            log(f"open when the MTA stopped: alert {t['id']} {t.get('cause')} {t.get('key')}")

    def stop(self) -> None:
        if self.daemon.proc is None:
            return
        rc = self.daemon.stop()
        if rc != 0 and not self.broken:
            self.problem(f"deferwatch run exited {rc} on SIGTERM: {self.daemon.stderr()[-1500:]}")
        err = self.daemon.stderr().strip()
        if err:
            self.run.notes.append(f"{self.daemon.name} stderr: {short(err, 400)}")

    # -- snapshots ------------------------------------------------------------------------

    def snapshot(self, when: str) -> dict:
        """One status snapshot against analyze of exactly the bytes the daemon had read."""
        st, before, after, problems = self.daemon.consistent_status()
        for p in problems:
            self.problem(f"{when}: {p}")
        out = self.run.out_dir
        (out / f"{self.daemon.name}-status-{when}.json").write_text(json.dumps(st, indent=1) + "\n")
        src = self.source(st, str(self.followed))
        if src is None:
            raise DaemonFailed(f"{when}: status names no source {self.followed}")
        if src.get("state") != "following":
            self.problem(f"{when}: source state {src.get('state')!r}")
        if st.get("state", {}).get("error"):
            self.problem(f"{when}: the daemon cannot save its state: {st['state']['error']}")
        pos = int(src["position"])
        with open(self.followed, "rb") as f:
            data = f.read(pos)
        if len(data) != pos:
            raise DaemonFailed(f"{when}: position {pos} is past the end of {self.followed} "
                               f"({len(data)} bytes)")
        if pos and not data.endswith(b"\n"):
            self.problem(f"{when}: position {pos} is not at the end of a line")
        prefix = out / f"{self.daemon.name}-read-{when}.log"
        prefix.write_bytes(data)
        os.utime(prefix, (self.followed.stat().st_mtime,) * 2)  # classic syslog's year
        events = analyze(self.run.deferwatch, [str(prefix)],
                         out / f"{self.daemon.name}-read-{when}-events.jsonl")
        where = f"{when} ({self.label} up to byte {pos}, {len(events)} attempts)"

        # Counters since start.
        want_att, got_att = attempt_counts(events), status_attempts(st)
        d = diff_counts(f"{where}: attempts (mta/status)", want_att, got_att,
                        "analyze", "status")
        if d:
            self.problem(d)
        want_def, got_def = deferral_counts(events), status_deferrals(st)
        d = diff_counts(f"{where}: deferrals (provider/cause)", want_def, got_def,
                        "analyze", "status")
        if d:
            self.problem(d)
        read = data[self.start_pos:]
        lines = read.count(b"\n")
        own = sum(1 for line in read.splitlines() if SYSLOG_TAG.match(line))
        got_lines = (st["lines"]["total"] - self.start_lines[0], st["lines"]["own"] - self.start_lines[1])
        if got_lines != (lines, own):
            self.problem(f"{where}: lines read since start: status says {got_lines[0]} "
                         f"({got_lines[1]} of them deferwatch's own), the file has {lines} "
                         f"({own} deferwatch's own) between byte {self.start_pos} and {pos}")
        if st["attempts"]["total"] != sum(want_att.values()):
            self.problem(f"{where}: attempts.total {st['attempts']['total']}, analyze "
                         f"{sum(want_att.values())}")

        # Destinations in the window, against the model.
        if st.get("window") != f"{WINDOW_S // 60}m":
            self.problem(f"{where}: window {st.get('window')!r}")
        if not st.get("log_time"):
            self.problem(f"{where}: no log_time")
        else:
            self.compare_destinations(where, st, events)
        # Open alerts against the transitions printed so far.
        self.compare_alerts(where, st, before, after)
        self.snapshots[when] = st
        global SAMPLE_PRINTED
        if not SAMPLE_PRINTED:
            SAMPLE_PRINTED = True
            print_sample(st)
        self.final_counts[when] = {"attempts": got_att, "deferrals": got_def,
                                   "analyze_deferrals": want_def}
        log(f"live {when}: {sum(got_att.values())} attempts, "
            f"{len(st.get('destinations', []))} destinations, {len(st.get('alerts', []))} "
            f"open alerts; checked against analyze of {pos} bytes")
        return st

    def compare_destinations(self, where: str, st: dict, events: list[dict]) -> None:
        want = model_destinations(events, us(st.get("window_end") or st["log_time"]))
        got = status_destinations(st.get("destinations", []))
        if want != got:
            lines = [f"{where}: status destinations differ from analyze's events in the "
                     f"window ending {st.get('window_end') or st['log_time']} (left: expected, right: status):"]
            for k in sorted(set(want) | set(got)):
                if want.get(k) != got.get(k):
                    lines.append(f"    ! {k[0]} {k[1]}: {fmt_dest(want.get(k))}  |  "
                                 f"{fmt_dest(got.get(k))}")
            self.problem("\n".join(lines))

    def compare_alerts(self, where: str, st: dict, before: list[dict],
                       after: list[dict]) -> None:
        """The snapshot's open alerts against the transitions the daemon printed before
        and after it was taken: an alert whose state did not change in between must be in
        the snapshot exactly when it is open; one that changed may be either way."""
        open_before, open_after = open_alert_ids(before), open_alert_ids(after)
        seen_before = {t["id"] for t in before}
        last_before = {t["id"]: t.get("state") for t in before}
        last_after = {t["id"]: t.get("state") for t in after}
        got = {a["id"]: a for a in st.get("alerts", [])}
        problems = []
        for i, t in open_after.items():
            if i not in got and last_before.get(i) == last_after.get(i):
                problems.append(f"alert {i} ({t.get('cause')} {t.get('key')}) is open per the "
                                f"daemon's output but not in status")
        for i, a in got.items():
            t = next((x for x in after if x["id"] == i), None)
            if t is None:
                problems.append(f"status shows alert {i} ({a.get('cause')} {a.get('key')}) that "
                                f"never opened on the daemon's output")
                continue
            if i not in open_after and i not in open_before and i in seen_before:
                problems.append(f"status shows alert {i} ({a.get('cause')} {a.get('key')}) "
                                f"open; the daemon's output had resolved it before the snapshot")
            for f in ("cause", "scope", "key", "domain", "relay", "provider", "severity"):
                if f == "severity" and last_before.get(i) != last_after.get(i):
                    continue
                want = next((x for x in reversed(after) if x["id"] == i), t).get(f)
                if a.get(f) != want and not (f == "severity" and i not in open_after):
                    problems.append(f"alert {i}: status {f}={a.get(f)!r}, output "
                                    f"{f}={want!r}")
        # Destinations name the open alerts on them (when they are listed at all).
        for dd in st.get("destinations", []):
            for i in dd.get("alerts", []):
                a = got.get(i)
                if a is None:
                    problems.append(f"destination {dd['scope']} {dd['key']} names alert {i}, "
                                    f"which is not open")
                elif (a.get("scope"), a.get("key")) != (dd["scope"], dd["key"]):
                    problems.append(f"destination {dd['scope']} {dd['key']} names alert {i} of "
                                    f"{a.get('scope')} {a.get('key')}")
        listed = {(dd["scope"], dd["key"]): dd for dd in st.get("destinations", [])}
        for i, a in got.items():
            dd = listed.get((a.get("scope"), a.get("key")))
            if dd is not None and i not in dd.get("alerts", []):
                problems.append(f"alert {i} is open on {a.get('scope')} {a.get('key')}, but that "
                                f"destination's alerts are {dd.get('alerts')}")
        if problems:
            self.problem(f"{where}: open alerts:\n    " + "\n    ".join(problems))

    def check_scenario_destinations(self, st: dict) -> None:
        """At settled: the receivers that should alert are deferring destinations with their
        cause; the accept-only receiver and the normal greylister are not."""
        dests = status_destinations(st.get("destinations", []))
        for r in self.run.scenario.receivers:
            for dom in r.domains:
                v = dests.get(("domain", dom))
                self.dest_causes[dom] = dict(v["causes"]) if v else {}
                if r.alert:
                    if v is None or r.cause not in v["causes"]:
                        self.problem(f"settled: status destinations do not show {dom} "
                                     f"deferring for {r.cause}: {fmt_dest(v)}")
                    elif set(v["causes"]) != {r.cause}:
                        self.problem(f"settled: {dom} defers for {sorted(v['causes'])}, "
                                     f"expected only {r.cause}")
                elif v is not None:
                    self.problem(f"settled: status destinations list {dom} ({r.name}, which "
                                 f"should not count as deferring): {fmt_dest(v)}")

    def wait_for_resolves(self) -> None:
        """Until every open alert of a receiver that recovered has resolved."""
        recovering = {d for r in self.run.scenario.receivers if r.recovers for d in r.domains}
        t0 = time.monotonic()
        deadline = t0 + self.resolve_timeout
        last = 0.0
        while True:
            if not self.daemon.running():
                raise DaemonFailed(f"deferwatch run exited {self.daemon.proc.returncode}: "
                                   f"{self.daemon.stderr()[-1500:]}")
            pending = [t for t in open_alert_ids(self.daemon.transitions()).values()
                       if (t.get("domain") or "") in recovering]
            if not pending:
                log(f"live: every alert of a receiver that recovered has resolved "
                    f"(waited {time.monotonic() - t0:.0f}s)")
                break
            now = time.monotonic()
            if now > deadline:
                self.problem(f"alerts of receivers that recovered still open "
                             f"{self.resolve_timeout:.0f}s after settling: "
                             + ", ".join(f"{t['id']} {t.get('cause')} {t.get('domain')} "
                                         f"(last_seen {t.get('last_seen')})" for t in pending))
                break
            if now - last > 15:
                log("live: waiting for alerts to resolve: "
                    + ", ".join(f"{t['id']} {t.get('cause')} {t.get('domain')}" for t in pending))
                last = now
            time.sleep(1)
        self.run.timings["wait for resolves"] = time.monotonic() - t0

    # -- after the phase ------------------------------------------------------------------

    def after_phase(self) -> None:
        try:
            if self.broken:
                return
            try:
                self.check_syslog_alerts()
                self.check_alert_checks()
                self.journal_pass()
            except DaemonFailed as e:
                self.problem(str(e))
        finally:
            self.dns.stop()

    def check_alert_checks(self) -> None:
        """Every reverse_dns, authentication and reputation alert got its DNS checks: an
        alert=checked line in rsyslog's file with the expected findings and verdict, the
        same on the daemon's standard output with every finding's evidence."""
        printed = {str(c.get("id")): c for c in self.daemon.checks()}
        lines = {str(x.get("id")): x for x in self.syslog_checks}
        checked = 0
        for t in self.daemon.transitions():
            cause = t.get("cause")
            if t.get("state") != "open" or cause not in EXPECTED_CHECKS:
                continue
            i = str(t.get("id"))
            verdict, short_form = EXPECTED_CHECKS[cause]
            line = lines.get(i)
            if line is None:
                self.problem(f"alert {i} ({cause} {t.get('key')}): no alert=checked line in "
                             f"{self.syslog_file.name}")
                continue
            if (line.get("verdict"), line.get("checks")) != (verdict, short_form):
                self.problem(f"alert {i} ({cause} {t.get('key')}): checked verdict={line.get('verdict')} "
                             f"checks={line.get('checks')!r}, expected verdict={verdict} "
                             f"checks={short_form!r}: {short(line.get('summary'), 300)}")
            c = printed.get(i)
            if c is None or c.get("checks") != short_form or not all(f.get("evidence") for f in c.get("findings", [])):
                self.problem(f"alert {i} ({cause}): the checks printed are {short(json.dumps(c), 400)}")
            checked += 1
        if checked == 0:
            self.problem("no alert of a checked cause (reverse_dns, authentication, reputation) opened")
        self.run.notes.append(f"DNS checks: {checked} alerts checked, {len(self.syslog_checks)} "
                              f"alert=checked lines")

    def check_syslog_alerts(self) -> None:
        """The alert lines in rsyslog's file: the same transitions as the daemon printed;
        the expected alerts opened once; resolved when their receiver recovered."""
        out = self.daemon.transitions()
        lines = []
        with open(self.syslog_file, "rb") as f:
            for raw in f:
                m = SYSLOG_TAG.match(raw.rstrip(b"\n"))
                if m:
                    lines.append(parse_kv(m.group(1).decode(errors="replace")))
        self.syslog_checks = [x for x in lines if x.get("alert") == "checked"]
        lines = [x for x in lines if x.get("alert") != "checked"]
        self.syslog_alerts = lines
        fields = ("id", "state", "cause", "scope", "key", "domain")

        def norm_syslog(x: dict) -> tuple:
            d = dict(x)
            d["state"] = d.pop("alert", None)
            # The syslog line has no key=: the key is the field its scope names.
            d.setdefault("key", d.get(d.get("scope") or "", None))
            return tuple(None if d.get(f) in (None, "-") else str(d.get(f)) for f in fields)

        def norm_out(x: dict) -> tuple:
            return tuple(None if x.get(f) in (None, "-") else str(x.get(f)) for f in fields)

        a, b = [norm_out(x) for x in out], [norm_syslog(x) for x in lines]
        if a != b:
            self.problem(f"the alert lines in {self.syslog_file.name} are not the transitions "
                         f"the daemon printed ({len(b)} lines, {len(a)} transitions):\n"
                         + "\n".join(f"    {'  ' if x == y else '! '}{x}  |  {y}"
                                     for x, y in _zip_longest(a, b)))
        # What opened and resolved (from rsyslog's file).
        by_id: dict[str, dict] = {}
        for x in lines:
            i = x.get("id")
            st = x.get("alert")
            e = by_id.setdefault(i, {"opens": [], "resolves": [], "cause": x.get("cause"),
                                     "domain": x.get("domain"),
                                     "key": x.get(x.get("scope") or "", None)})
            t = out_time(out, i, st)
            if st == "open":
                e["opens"].append(t)
            elif st == "resolve":
                e["resolves"].append(t)
        opened = collections.Counter()
        self.alert_rows: dict[str, dict] = {}
        for i, e in by_id.items():
            if not e["opens"]:
                continue
            dom = e["domain"] if e["domain"] not in (None, "-") else e["key"]
            opened[(dom, e["cause"])] += 1
            row = self.alert_rows.setdefault(dom, {"opened": [], "resolved": [], "ids": []})
            row["opened"] += e["opens"]
            row["resolved"] += e["resolves"]
            row["ids"].append(i)
        got = set(opened)
        if got != self.expected_alerts:
            self.problem(f"alerts opened (in {self.syslog_file.name}): "
                         f"missing {sorted(self.expected_alerts - got) or '-'}, "
                         f"unexpected {sorted(got - self.expected_alerts) or '-'}")
        twice = {k: n for k, n in opened.items() if n > 1}
        if twice:
            self.problem(f"alerts opened more than once: {twice}")
        # The replay of the same log with the same configuration opens the same alerts.
        replay = self.replay()
        if replay != got:
            self.problem(f"`analyze --alerts` of {self.label} with the same configuration "
                         f"opens {sorted(replay)}; the live daemon opened {sorted(got)}")
        # Resolves: every alert of a receiver that recovered; none of one that did not
        # while the MTA was still trying.
        for r in self.run.scenario.receivers:
            for dom in r.domains:
                row = self.alert_rows.get(dom)
                if not row:
                    continue
                if r.recovers and len(row["resolved"]) < len(row["opened"]):
                    self.problem(f"alert for {dom} ({r.name}) never resolved although its "
                                 f"receiver recovered and took all its mail")
                if not r.recovers:
                    early = [t for t in row["resolved"]
                             if t is not None and self.mta_stopped_at and t < self.mta_stopped_at]
                    if early:
                        self.problem(f"alert for {dom} ({r.name}) resolved at "
                                     f"{hms(early[0])} while the MTA was still deferring it")

    def replay(self) -> set[tuple[str, str]]:
        cp = sh([str(self.run.deferwatch), "analyze", "--alerts", "--json", "--config",
                 str(self.daemon.config), str(self.replay_source())],
                check=False, quiet=True, timeout=120)
        (self.run.out_dir / f"{self.daemon.name}-alerts-replay.jsonl").write_bytes(cp.stdout)
        got = set()
        for line in cp.stdout.decode().splitlines():
            try:
                a = json.loads(line)
            except ValueError:
                continue
            if a.get("state") == "open" and not a.get("end_of_input"):
                got.add((a.get("domain") or a.get("key"), a.get("cause")))
        return got

    def replay_source(self) -> Path:
        return self.run.logs.get(self.label, self.followed)

    # -- the journal pass -----------------------------------------------------------------

    def journal_pass(self) -> None:
        t0 = time.monotonic()
        if not JOURNAL_REMOTE.exists():
            raise HarnessError(f"{JOURNAL_REMOTE} is needed (apt-get install "
                               f"systemd-journal-remote)")
        jdir = self.run.out_dir / "journal"
        shutil.rmtree(jdir, ignore_errors=True)
        jdir.mkdir()
        jfile = jdir / "remote.journal"
        entries = journal_entries(self.rfc3339_file)
        half = len(entries) // 2
        write_journal(jfile, entries[:half], 0)
        written = count_journal(jdir)
        if written != half:
            raise HarnessError(f"systemd-journal-remote wrote {written} of {half} entries")
        first = analyze(self.run.deferwatch, ["--journal", str(jdir)])

        sink = DatagramSink(WORK / f"live-{self.run.name}-journal.syslog.sock",
                            self.run.out_dir / f"{self.run.name}-journal-syslog.txt")
        sink.start()
        d = Daemon(self.run.deferwatch, f"{self.run.name}-journal", self.run.out_dir,
                   journal_dir=jdir, lookback="1h", syslog_socket=sink.path, dns=self.dns)
        self.journal_daemon = d
        try:
            d.start()
            # The first half through lookback (the first start reads the last hour).
            st = self.wait_for_attempts(d, attempt_counts(first), "the journal's first half "
                                        "(read through lookback)")
            write_journal(jfile, entries[half:], half)
            written = count_journal(jdir)
            if written != len(entries):
                raise HarnessError(f"systemd-journal-remote: {written} of {len(entries)} entries")
            events = analyze(self.run.deferwatch, ["--journal", str(jdir)],
                             self.run.out_dir / f"{self.run.name}-journal-events.jsonl")
            # The second half by following the journal.
            self.wait_for_attempts(d, attempt_counts(events), "the journal's second half "
                                   "(appended while the daemon follows it)")
            st, before, after, problems = d.consistent_status()
            for p in problems:
                self.problem(f"journal pass: {p}")
            (self.run.out_dir / f"{d.name}-status-final.json").write_text(
                json.dumps(st, indent=1) + "\n")
            where = f"journal pass ({len(entries)} entries, {len(events)} attempts)"
            att, dfr = status_attempts(st), status_deferrals(st)
            for what, want, got, wl in (
                    ("attempts (mta/status)", attempt_counts(events), att, "analyze --journal"),
                    ("deferrals (provider/cause)", deferral_counts(events), dfr,
                     "analyze --journal")):
                diff = diff_counts(f"{where}: {what}", want, got, wl, "status")
                if diff:
                    self.problem(diff)
            live = self.final_counts.get("final")
            if live:
                for what, want, got in (("attempts (mta/status)", live["attempts"], att),
                                        ("deferrals (provider/cause)", live["deferrals"], dfr)):
                    diff = diff_counts(f"{where}: {what}", want, got,
                                       f"file daemon", "journal daemon")
                    if diff:
                        self.problem(diff)
            if st.get("log_time"):
                self.compare_destinations(where, st, events)
            self.compare_alerts(where, st, before, after)
            src = next((s for s in st.get("sources", []) if s.get("kind") == "journal"), None)
            if not src or src.get("state") != "following":
                self.problem(f"{where}: journal source {json.dumps(src)}")
            self.journal = {"entries": len(entries), "attempts": att, "deferrals": dfr,
                            "status": st}
        finally:
            rc = d.stop()
            sink.stop()
        if rc != 0:
            self.problem(f"journal pass: deferwatch run exited {rc}: {d.stderr()[-1500:]}")
        # Every transition on standard output also went to the syslog socket.
        sent = []
        for dgram in sink.lines:
            m = re.search(rb"deferwatch\[\d+\]: (.*)$", dgram, re.S)
            if m:
                kv = parse_kv(m.group(1).decode(errors="replace"))
                if kv.get("alert") != "checked":
                    sent.append((kv.get("alert"), kv.get("id")))
        printed = [(t.get("state"), str(t.get("id"))) for t in d.transitions()]
        if sent != printed:
            self.problem(f"journal pass: the syslog datagrams {sent} are not the transitions "
                         f"printed {printed}")
        opened = sorted({(t.get("domain") or t.get("key"), t.get("cause"))
                         for t in d.transitions() if t.get("state") == "open"})
        self.run.notes.append(f"journal pass: alerts opened {len(opened)} "
                              f"({', '.join(f'{a} {b}' for a, b in opened)}); "
                              f"{len(sink.lines)} syslog datagrams")
        self.run.timings["journal pass"] = time.monotonic() - t0

    def wait_for_attempts(self, d: Daemon, want: dict, what: str) -> dict:
        deadline = time.monotonic() + 60
        while True:
            st = d.status()
            if status_attempts(st) == want:
                # Caught up: the journal is read to its end.
                src = next((s for s in st.get("sources", []) if s.get("kind") == "journal"), {})
                if src.get("lag_seconds", 0) == 0:
                    return st
            if time.monotonic() > deadline:
                diff = diff_counts(f"journal pass, {what}: attempts after 60s",
                                   want, status_attempts(st), "analyze --journal", "status")
                raise DaemonFailed(diff or f"journal pass, {what}: not caught up after 60s")
            time.sleep(0.3)

    # -- the summary ----------------------------------------------------------------------

    def summary(self, rows) -> list[str]:
        """rows: (receiver, counts, ok) of the primary log's check (run.py)."""
        out = [f"{self.run.name}: live daemon on {self.label}, journal pass"
               f"{' ' + str(self.journal.get('entries')) + ' entries' if self.journal else ' -'}",
               f"  {'scenario':<26} {'cause':<20} {'scripted':>8} {'events':>7} "
               f"{'cause ok':<8} {'alert opened':<12} {'resolved':<10}"]
        for r, c, ok in rows:
            causes_ok = ok
            for dom in r.domains:
                dc = self.dest_causes.get(dom, {})
                if r.alert and set(dc) != {r.cause}:
                    causes_ok = False
                if not r.alert and dc:
                    causes_ok = False
            opened = resolved = "-"
            for dom in r.domains:
                row = getattr(self, "alert_rows", {}).get(dom)
                if row:
                    opened = ",".join(hms(t) for t in row["opened"])
                    resolved = ",".join(hms(t) for t in row["resolved"]) or (
                        "no (MTA still trying)" if not r.recovers else "NO")
            if not r.alert:
                opened = "none" if opened == "-" else opened + " (!)"
                resolved = ""
            events = f"{c['direct']}+{c['secondary']}" if c["secondary"] else str(c["direct"])
            out.append(f"  {r.name:<26} {r.cause or '-':<20} {c['scripted']:>8} {events:>7} "
                       f"{'ok' if causes_ok else 'NO':<8} {opened:<12} {resolved:<10}")
        fin = self.final_counts.get("final", {})
        want = fin.get("analyze_deferrals", {})
        live = fin.get("deferrals", {})
        jour = self.journal.get("deferrals", {}) if self.journal else {}
        out.append(f"  deferrals per provider/cause: {'analyze':>8} {'daemon':>7} {'journal':>8}")
        for k in sorted(set(want) | set(live) | set(jour)):
            out.append(f"    {k[0] + '/' + k[1]:<28} {want.get(k, 0):>8} {live.get(k, 0):>7} "
                       f"{jour.get(k, 0) if self.journal else '-':>8}")
        return out


SAMPLE_PRINTED = False


def print_sample(st: dict) -> None:
    """The shape of `deferwatch status --json` the checks rely on: one of each list."""
    def trim(x):
        if isinstance(x, dict):
            return {k: trim(v) for k, v in x.items()}
        if isinstance(x, list):
            return [trim(v) for v in x[:1]] + (["..."] if len(x) > 1 else [])
        if isinstance(x, str) and len(x) > 60:
            return x[:57] + "..."
        return x
    sample = trim({k: st[k] for k in ("log_time", "window", "sources", "lines", "attempts",
                                      "deferrals", "destinations", "alerts") if k in st})
    log("sample of `deferwatch status --json` (the keys the checks use; first element of "
        "each list, long texts cut):")
    for k, v in sample.items():
        print(f"    {k}: {json.dumps(v)}", flush=True)


def out_time(transitions: list[dict], alert_id: str, state: str) -> int | None:
    """The log time of an alert transition (from the daemon's output)."""
    for t in transitions:
        if str(t.get("id")) == str(alert_id) and t.get("state") == state:
            try:
                return us(t["time"])
            except (KeyError, ValueError):
                return None
    return None


def _zip_longest(a: list, b: list):
    for i in range(max(len(a), len(b))):
        yield (a[i] if i < len(a) else None), (b[i] if i < len(b) else None)


# ---------------------------------------------------------------------------------------
# Journal files from syslog lines
# ---------------------------------------------------------------------------------------

BOOT_ID = "5e1f0c2a9d3b4e6f8a7b6c5d4e3f2a1b"


def journal_entries(path: Path) -> list[dict]:
    """Every line of an RFC 3339 syslog file (rsyslog's RSYSLOG_FileFormat) as a journal
    entry: time, host, identifier, pid, message."""
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = RFC3339_LINE.match(line.rstrip("\n"))
            if not m:
                continue
            out.append({"time": us(m.group(1)), "host": m.group(2), "ident": m.group(3),
                        "pid": m.group(4), "message": m.group(5)})
    return out


def write_journal(file: Path, entries: list[dict], first_index: int) -> None:
    """Appends the entries in the journal export format through systemd-journal-remote."""
    chunks = []
    for i, e in enumerate(entries, start=first_index):
        fields = [f"__REALTIME_TIMESTAMP={e['time']}",
                  f"__MONOTONIC_TIMESTAMP={1_000_000 + i * 1000}",
                  f"_BOOT_ID={BOOT_ID}", f"_HOSTNAME={e['host']}", "_TRANSPORT=syslog",
                  "SYSLOG_FACILITY=2", "PRIORITY=6", f"SYSLOG_IDENTIFIER={e['ident']}"]
        if e["pid"]:
            fields.append(f"_PID={e['pid']}")
            fields.append(f"SYSLOG_PID={e['pid']}")
        fields.append(f"MESSAGE={e['message']}")
        chunks.append("\n".join(fields) + "\n\n")
    sh([str(JOURNAL_REMOTE), f"--output={file}", "-"], input="".join(chunks).encode(),
       quiet=True, timeout=60)


def count_journal(directory: Path) -> int:
    cp = sh(["journalctl", f"--directory={directory}", "-o", "export", "--no-pager"],
            check=False, quiet=True, timeout=60)
    return sum(1 for line in cp.stdout.splitlines() if line.startswith(b"__CURSOR="))


class DatagramSink:
    """A syslog socket of the harness's own (a Unix datagram socket read by a thread):
    where the journal pass's daemon writes its alerts."""

    def __init__(self, path: Path, out: Path) -> None:
        self.path = path
        self.out = out
        self.lines: list[bytes] = []
        self.sock: socket.socket | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.path.unlink(missing_ok=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.settimeout(0.2)
        self.running = True
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self) -> None:
        while self.running:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            self.lines.append(data)

    def stop(self) -> None:
        self.running = False
        if self.thread:
            self.thread.join(2)
        if self.sock:
            self.sock.close()
        self.path.unlink(missing_ok=True)
        self.out.write_bytes(b"\n".join(self.lines) + (b"\n" if self.lines else b""))
