#!/usr/bin/env python3
"""deferwatch end to end: real Postfix and real Exim deliver to scripted receivers.

For each phase (postfix, then exim) this script:

  1. installs the MTA from Debian's packages (the two conflict: the other one is purged),
     and configures it: test domains routed to the receivers by host name, no DNS, short
     timeouts and retry times;
  2. starts a private rsyslogd on /dev/log that writes a traditional-format file and an
     RFC 3339 file, the scripted receivers (receiver.py, scenario.json) on 127.0.25.x:25,
     and the MTA (Exim inside a network namespace that holds only loopback);
  3. sends every receiver its messages, one recipient each, and waits until the scripted
     deferrals have happened and every receiver that recovers has all its mail;
  4. stops everything, keeps the logs and the receivers' record in --out, and checks
     `deferwatch analyze --events` against the record: every deferral a receiver scripted is
     exactly one deferral event with the scripted cause, domain and provider;
  5. (live.py) checks `deferwatch run`, started before the first message on the live log:
     its status (counters, destinations, open alerts) against analyze of exactly the bytes
     it had read, its alerts in rsyslog's file (the expected ones open; they resolve once
     the receiver recovered), then a second daemon on a journal made from the same lines
     with systemd-journal-remote.

Receiver host names (gmail-smtp-in.l.google.com, ...) come from temporary /etc/hosts
entries, removed again at the end, also when the run fails or is interrupted. Nothing may
leave the machine: Postfix has no DNS and only transport-map routes (any other domain hits
the error transport), every relay must be a loopback address, and no TCP connection to a
non-loopback port 25 may be seen during the phase; Exim's namespace has only loopback.

Hooks for the live daemon checks: pass --hooks FILE, a Python file defining any of
    before_mail(run)   MTA, syslog and receivers are up, no mail sent yet
    settled(run)       the scripted deferrals happened; MTA still running
    mta_stopped(run)   the MTA is stopped; syslog and receivers still up
    after_phase(run)   everything stopped, logs copied, events checked
where `run` is a PhaseRun (see below: run.logs names the live log files, run.deferwatch the
binary, run.problems collects failures). Exit status: 0 all checks passed, 1 a check
failed, 2 the harness could not run.

Usage (as root, on Debian 12):
    python3 Tests/EndToEnd/run.py --deferwatch .build/release/deferwatch --out /tmp/dw-e2e/out
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import ctypes
import datetime as dt
import errno
import fcntl
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ next to the scripts in the checkout
from common import (T0, HarnessError, WORK, fmt_time, log, parse_time, sh, short,
                    stop_process, utc_now)
import live

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
TEMPLATES = HERE / "templates"
STATE_DIR = Path("/var/lib/deferwatch-e2e")  # which packages this harness installed
SENDER_HOST = "sender.deferwatch-e2e.example"
HOSTS_FILE = Path("/etc/hosts")
HOSTS_BEGIN = "# deferwatch-e2e begin: temporary entries of Tests/EndToEnd/run.py"
HOSTS_END = "# deferwatch-e2e end"
SYSLOG_SOCKET = Path("/dev/log")
POSTFIX_TRANSPORT = Path("/etc/postfix/deferwatch-e2e-transport")
EXIM_CONF = Path("/etc/exim4/exim4.conf")
EXIM_LOG_DIR = Path("/var/log/exim4")
EXIM_SPOOL = Path("/var/spool/exim4")
RECEIVER_PID = WORK / "receiver.pid"
EXIM_PID = WORK / "exim.pid"
MTA_PACKAGES = {
    "postfix": ["postfix"],
    "exim": ["exim4-daemon-light"],
}
# Packages of either MTA that must go before the other can be installed.
CONFLICTING = {
    "postfix": ["exim4-daemon-light", "exim4-daemon-heavy", "exim4-base", "exim4-config"],
    "exim": ["postfix"],
}

# ---------------------------------------------------------------------------------------
# Scenario and messages
# ---------------------------------------------------------------------------------------

@dataclass
class Receiver:
    name: str
    hostname: str
    address: str
    domains: list[str]
    provider: str | None
    messages: int
    mode: str
    listen: bool
    script: dict | None
    cause: str | None
    alert: bool

    @property
    def stage(self) -> str | None:
        return self.script.get("stage") if self.script else None

    @property
    def recovers(self) -> bool:
        """Whether all its mail is eventually accepted."""
        return self.listen and self.mode in ("accept", "script", "greylist")

    def reply_text(self) -> str:
        """The scripted reply as one line (as Postfix logs it), for the classify check."""
        s = self.script or {}
        lines = s.get("lines") or [s.get("text", "")]
        code, dsn = s.get("code"), s.get("dsn")
        values = {"host": self.hostname, "client": "127.0.0.1", "sender": "a@b.example",
                  "rcpt": f"user@{self.domains[0]}", "gid": "a1b2c3d4e5f6a-0123456789si.12",
                  "queue_id": "ABC123", "session": 1, "date": "Tue, 20 May 2025 10:00:00 +0000"}
        parts = []
        for i, line in enumerate(lines):
            sep = " " if i == len(lines) - 1 else "-"
            d = f"{dsn} " if dsn and (i == 0 or s.get("dsn_each_line", True)) else ""
            parts.append(f"{code}{sep}{d}{line.format_map(values)}".rstrip())
        return " ".join(parts)


@dataclass
class Scenario:
    path: Path
    sender: str
    receivers: list[Receiver]

    @staticmethod
    def load(path: Path) -> "Scenario":
        with open(path, encoding="utf-8") as f:
            obj = json.load(f)
        receivers = []
        for r in obj["receivers"]:
            receivers.append(Receiver(
                name=r["name"], hostname=r["hostname"], address=r["address"],
                domains=[d.lower() for d in r["domains"]], provider=r.get("provider"),
                messages=int(r.get("messages", 3)), mode=r.get("mode", "accept"),
                listen=r.get("listen", True) is not False, script=r.get("script"),
                cause=(r.get("expect") or {}).get("cause"),
                alert=bool((r.get("expect") or {}).get("alert", False))))
        names = [r.name for r in receivers]
        if len(set(names)) != len(names):
            raise HarnessError(f"{path}: receiver names are not unique")
        addrs = [r.address for r in receivers]
        if len(set(addrs)) != len(addrs):
            raise HarnessError(f"{path}: receiver addresses are not unique")
        for r in receivers:
            if not r.address.startswith("127."):
                raise HarnessError(f"{path}: {r.name} is not on a loopback address")
        return Scenario(path, obj.get("sender", f"newsletter@{SENDER_HOST}"), receivers)

    def receiver_of_domain(self, domain: str | None) -> Receiver | None:
        for r in self.receivers:
            if domain and domain.lower() in r.domains:
                return r
        return None

    @property
    def domains(self) -> set[str]:
        return {d for r in self.receivers for d in r.domains}


FIRST_NAMES = ["olga", "bruno", "quinn", "farid", "lena", "tara", "emil", "pia", "dara", "gus",
               "nina", "omar"]


@dataclass
class Message:
    receiver: Receiver
    recipient: str
    message_id: str
    subject: str

    def render(self, sender: str) -> bytes:
        date = utc_now().strftime("%a, %d %b %Y %H:%M:%S +0000")
        text = (f"From: Deferwatch Shop <{sender}>\r\n"
                f"To: <{self.recipient}>\r\n"
                f"Subject: {self.subject}\r\n"
                f"Date: {date}\r\n"
                f"Message-ID: {self.message_id}\r\n"
                f"MIME-Version: 1.0\r\n"
                f"Content-Type: text/plain; charset=us-ascii\r\n"
                f"\r\n"
                f"This message was sent by deferwatch's end-to-end test to a scripted\r\n"
                f"receiver on a loopback address ({self.receiver.name}).\r\n")
        return text.encode("ascii")


def plan_messages(scenario: Scenario, phase: str, run_id: str) -> list[Message]:
    """Every receiver's messages, one recipient each, interleaved round-robin."""
    per_receiver = []
    for r in scenario.receivers:
        msgs = []
        for i in range(1, r.messages + 1):
            domain = r.domains[(i - 1) % len(r.domains)]
            local = f"{FIRST_NAMES[(i - 1) % len(FIRST_NAMES)]}.{i}"
            msgs.append(Message(
                receiver=r, recipient=f"{local}@{domain}",
                message_id=f"<{run_id}.{phase}.{r.name}.{i}@{SENDER_HOST}>",
                subject=f"deferwatch e2e {phase} {r.name} #{i}"))
        per_receiver.append(msgs)
    out = []
    for i in range(max((len(m) for m in per_receiver), default=0)):
        for msgs in per_receiver:
            if i < len(msgs):
                out.append(msgs[i])
    return out


# ---------------------------------------------------------------------------------------
# Machine state: packages, /etc/hosts, network namespace
# ---------------------------------------------------------------------------------------

class Packages:
    """Installs and purges Debian packages, remembering which ones this harness added
    (in STATE_DIR, across runs), so that the end of a run can purge exactly those."""

    def __init__(self) -> None:
        self.state_file = STATE_DIR / "packages.json"
        self.ours: set[str] = set()
        if self.state_file.exists():
            try:
                self.ours = set(json.loads(self.state_file.read_text())["packages"])
            except (ValueError, KeyError):
                self.ours = set()

    def save(self) -> None:
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps({"packages": sorted(self.ours)}) + "\n")

    @staticmethod
    def installed() -> set[str]:
        cp = sh(["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n"], quiet=True)
        out = set()
        for line in cp.stdout.decode().splitlines():
            name, _, status = line.partition(" ")
            if status.strip() in ("installed", "half-configured", "unpacked", "half-installed",
                                  "triggers-awaited", "triggers-pending"):
                out.add(name.split(":")[0])
        return out

    def apt(self, args: list[str]) -> None:
        env = {"DEBIAN_FRONTEND": "noninteractive", "APT_LISTCHANGES_FRONTEND": "none"}
        base = ["apt-get", "-y", "-q", "-o", "DPkg::Lock::Timeout=300",
                "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"]
        cp = sh(base + args, check=False, env=env, timeout=900)
        if cp.returncode != 0 and args and args[0] == "install":
            log("apt-get install failed; updating the package lists once and retrying")
            sh(["apt-get", "-q", "-o", "DPkg::Lock::Timeout=300", "update"], env=env, timeout=900)
            cp = sh(base + args, check=False, env=env, timeout=900)
        if cp.returncode != 0:
            raise HarnessError(f"apt-get {' '.join(args)} failed:\n"
                               f"{cp.stdout.decode(errors='replace')[-3000:]}"
                               f"{cp.stderr.decode(errors='replace')[-3000:]}")

    def install(self, packages: list[str], preseed: str = "") -> None:
        before = self.installed()
        if all(p in before for p in packages):
            return
        if preseed:
            sh(["debconf-set-selections"], input=preseed.encode())
        self.apt(["install", "--no-install-recommends"] + packages)
        added = self.installed() - before
        self.ours |= added
        self.save()
        log(f"installed {', '.join(sorted(added)) or 'nothing new'}")

    def purge(self, packages: list[str]) -> None:
        present = [p for p in packages if p in self.installed()]
        if present:
            self.apt(["purge"] + present)

    def restore(self) -> None:
        """Purges every package this harness installed that is still installed."""
        present = sorted(self.ours & self.installed())
        if present:
            self.apt(["purge"] + present)
        self.ours = set()
        self.save()

    def check_foreign_mta(self, replace: bool) -> None:
        installed = self.installed()
        mta = {p for ps in CONFLICTING.values() for p in ps} | {"postfix"}
        foreign = sorted((installed & mta) - self.ours)
        if foreign and not replace:
            raise HarnessError(
                f"{', '.join(foreign)} installed, and not by this harness: the test installs, "
                f"reconfigures and purges Postfix and Exim. Run it on a scratch machine, or "
                f"pass --replace-mta to let it do so here.")


class HostsEntries:
    """Temporary /etc/hosts entries between marker lines. The file is rewritten in place
    (it may be a bind mount); restore() removes exactly the marked block."""

    def __init__(self, scenario: Scenario) -> None:
        self.lines = [f"{r.address}\t{r.hostname}" for r in scenario.receivers]
        self.installed = False

    @staticmethod
    def strip(text: str) -> tuple[str, bool]:
        out, inside, found = [], False, False
        for line in text.splitlines(keepends=True):
            if line.rstrip("\n") == HOSTS_BEGIN:
                inside, found = True, True
                continue
            if inside and line.rstrip("\n") == HOSTS_END:
                inside = False
                continue
            if not inside:
                out.append(line)
        return "".join(out), found

    @staticmethod
    def write(text: str) -> None:
        with open(HOSTS_FILE, "r+", encoding="utf-8") as f:
            f.seek(0)
            f.write(text)
            f.truncate()
            f.flush()
            os.fsync(f.fileno())

    def install(self) -> None:
        original, leftover = self.strip(HOSTS_FILE.read_text(encoding="utf-8"))
        if leftover:
            log("removing deferwatch-e2e entries an earlier run left in /etc/hosts")
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        (STATE_DIR / "hosts.before").write_text(original, encoding="utf-8")
        if original and not original.endswith("\n"):
            original += "\n"
        block = "\n".join([HOSTS_BEGIN] + self.lines + [HOSTS_END]) + "\n"
        self.installed = True
        self.write(original + block)
        log(f"/etc/hosts: {len(self.lines)} temporary entries")

    def restore(self) -> None:
        text, found = self.strip(HOSTS_FILE.read_text(encoding="utf-8"))
        if found:
            self.write(text)
            log("/etc/hosts restored")
        self.installed = False

    @staticmethod
    def cleanup_leftovers() -> None:
        if HOSTS_FILE.exists():
            text, found = HostsEntries.strip(HOSTS_FILE.read_text(encoding="utf-8"))
            if found:
                HostsEntries.write(text)
                log("removed deferwatch-e2e entries an earlier run left in /etc/hosts")


class NetNamespace:
    """Moves this (single-threaded) process into a new network namespace holding only
    loopback; every process started inside inherits it. leave() returns to the original."""

    CLONE_NEWNET = 0x40000000

    def __init__(self) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.original: int | None = None
        self.inode: int | None = None

    def enter(self) -> None:
        self.original = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        if self.libc.unshare(self.CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            os.close(self.original)
            self.original = None
            raise HarnessError(f"unshare(CLONE_NEWNET): {os.strerror(e)}")
        self.inode = os.stat("/proc/self/ns/net").st_ino
        sh(["ip", "link", "set", "lo", "up"])
        links = sh(["ip", "-o", "link", "show"], quiet=True).stdout.decode()
        names = [line.split(":")[1].strip() for line in links.splitlines() if ":" in line]
        if names != ["lo"]:
            raise HarnessError(f"the new network namespace has links {names}, not only lo")
        log("entered a network namespace with only loopback")

    def leave(self) -> None:
        if self.original is None:
            return
        if self.libc.setns(self.original, self.CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise HarnessError(f"setns back to the original network namespace: "
                               f"{os.strerror(e)}")
        os.close(self.original)
        self.original = None
        log("left the test network namespace")

    def pids(self, comm_prefix: str) -> list[int]:
        """Processes inside this namespace whose command name starts with comm_prefix."""
        out = []
        if self.inode is None:
            return out
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                if os.stat(f"/proc/{entry}/ns/net").st_ino != self.inode:
                    continue
                comm = Path(f"/proc/{entry}/comm").read_text().strip()
            except OSError:
                continue
            if comm.startswith(comm_prefix):
                out.append(int(entry))
        return out


def nonlocal_smtp_connections() -> list[str]:
    """TCP sockets (in this network namespace) whose remote end is port 25 on a
    non-loopback address."""
    found = []
    for path, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        try:
            lines = Path(path).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 4:
                continue
            rem_addr, rem_port = fields[2].split(":")
            if int(rem_port, 16) != 25:
                continue
            raw = bytes.fromhex(rem_addr)
            if v6:
                # /proc prints IPv6 as four host-order 32-bit words.
                raw = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                addr = socket.inet_ntop(socket.AF_INET6, raw)
                if addr == "::1" or addr.startswith("::ffff:127.") or addr == "::":
                    continue
            else:
                addr = socket.inet_ntop(socket.AF_INET, raw[::-1])
                if addr.startswith("127.") or addr == "0.0.0.0":
                    continue
            found.append(f"{addr}:25 (state {fields[3]})")
    return found


# ---------------------------------------------------------------------------------------
# Processes the phase runs: rsyslogd and the receivers
# ---------------------------------------------------------------------------------------

def stop_leftover_processes() -> None:
    """A run that was killed (SIGKILL) leaves its children: rsyslogd, the receivers, the
    Exim daemon. Each wrote a pid file under WORK; stop exactly those processes, after
    checking that the pid still runs the command this harness started."""
    candidates = [(RECEIVER_PID, "receiver.py"), (EXIM_PID, str(EXIM_PID))]
    candidates += [(p, str(p.parent / "rsyslog.conf")) for p in WORK.glob("rsyslog-*/rsyslogd.pid")]
    candidates += [(p, str(p.parent / "deferwatch.toml")) for p in WORK.glob("live-*/deferwatch.pid")]
    for pidfile, needle in candidates:
        try:
            pid = int(pidfile.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            pidfile.unlink(missing_ok=True)
            continue
        if needle in cmdline:
            log(f"stopping process {pid} left by an earlier run: {cmdline.strip()}")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            for _ in range(50):
                if not Path(f"/proc/{pid}").exists():
                    break
                time.sleep(0.1)
        pidfile.unlink(missing_ok=True)


def render_template(name: str, values: dict[str, str]) -> str:
    text = (TEMPLATES / name).read_text(encoding="utf-8")
    for k, v in values.items():
        text = text.replace(f"@@{k}@@", v)
    left = re.findall(r"@@[A-Z_]+@@", text)
    if left:
        raise HarnessError(f"template {name}: no value for {', '.join(sorted(set(left)))}")
    return text


def syslog_socket_state() -> str:
    """'absent', 'stale' (a socket nobody reads) or 'live'."""
    if not os.path.lexists(SYSLOG_SOCKET):
        return "absent"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.connect(str(SYSLOG_SOCKET))
        return "live"
    except OSError as e:
        if e.errno in (errno.ECONNREFUSED, errno.ENOENT, errno.ENOTSOCK):
            return "stale"
        return "live"
    finally:
        s.close()


class Rsyslog:
    def __init__(self, out_dir: Path, name: str) -> None:
        self.dir = WORK / f"rsyslog-{name}"
        self.traditional = out_dir / "syslog-traditional.log"
        self.rfc3339 = out_dir / "syslog-rfc3339.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        state = syslog_socket_state()
        if state == "live":
            raise HarnessError(f"{SYSLOG_SOCKET} belongs to a running syslog daemon; the test "
                               f"needs its own rsyslogd there (run it where no syslog daemon "
                               f"or journald owns {SYSLOG_SOCKET})")
        if state == "stale":
            os.unlink(SYSLOG_SOCKET)
        self.dir.mkdir(parents=True, exist_ok=True)
        for f in (self.traditional, self.rfc3339):
            f.unlink(missing_ok=True)
        conf = self.dir / "rsyslog.conf"
        conf.write_text(render_template("rsyslog.conf", {
            "WORKDIR": str(self.dir), "SOCKET": str(SYSLOG_SOCKET),
            "TRADITIONAL": str(self.traditional), "RFC3339": str(self.rfc3339)}))
        pidfile = self.dir / "rsyslogd.pid"
        pidfile.unlink(missing_ok=True)
        errlog = open(self.dir / "rsyslogd.stderr", "wb")
        log(f"$ rsyslogd -n -f {conf}")
        self.proc = subprocess.Popen(["rsyslogd", "-n", "-f", str(conf), "-i", str(pidfile)],
                                     stdout=errlog, stderr=errlog, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while syslog_socket_state() != "live":
            if self.proc.poll() is not None:
                raise HarnessError(f"rsyslogd exited {self.proc.returncode}: "
                                   f"{(self.dir / 'rsyslogd.stderr').read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise HarnessError("rsyslogd did not create /dev/log within 10s")
            time.sleep(0.1)
        # A marker line proves the path to both files works before any MTA logs.
        marker = f"deferwatch-e2e: syslog ready {utc_now().isoformat()}"
        sh(["logger", "-t", "deferwatch-e2e", "-p", "user.notice", marker], quiet=True)
        deadline = time.monotonic() + 10
        while not (self.traditional.exists() and marker in self.traditional.read_text()):
            if time.monotonic() > deadline:
                raise HarnessError("rsyslogd does not write its files")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is None:
            return
        stop_process(self.proc, 10)
        self.proc = None
        if syslog_socket_state() == "stale":
            os.unlink(SYSLOG_SOCKET)


class ReceiverProcess:
    def __init__(self, scenario: Scenario, record: Path) -> None:
        self.scenario = scenario
        self.record = record
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.record.unlink(missing_ok=True)
        self.stderr_path = self.record.with_suffix(".stderr")
        err = open(self.stderr_path, "wb")
        cmd = [sys.executable, str(HERE / "receiver.py"), "--scenario", str(self.scenario.path),
               "--record", str(self.record)]
        log("$ " + " ".join(cmd))
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err,
                                     stdin=subprocess.DEVNULL)
        RECEIVER_PID.write_text(f"{self.proc.pid}\n")
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().strip()
        if line != "ready":
            self.proc.wait(5)
            raise HarnessError(f"receiver.py did not start: {self.stderr_path.read_text()}")

    def stop(self) -> None:
        if self.proc is None:
            return
        stop_process(self.proc, 10)
        rc = self.proc.returncode
        self.proc = None
        RECEIVER_PID.unlink(missing_ok=True)
        if rc not in (0, -signal.SIGTERM):
            raise HarnessError(f"receiver.py exited {rc}: {self.stderr_path.read_text()[-2000:]}")


def read_record(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass  # a line being written right now
    return out


# ---------------------------------------------------------------------------------------
# The MTAs
# ---------------------------------------------------------------------------------------

class MTA:
    name = ""
    netns = False
    followed = ""  # the log the live daemon follows (a key of live_logs)
    # Stages the MTA's wording cannot tell apart: scripted stage -> stages an event may name.
    stage_aliases: dict[str, set[str]] = {}

    def install(self, packages: Packages) -> None: ...
    def configure(self, scenario: Scenario) -> None: ...
    def start(self, ns: NetNamespace | None) -> None: ...
    def inject(self, msg: Message, sender: str) -> None: ...
    def stop(self) -> None: ...
    def cleanup(self) -> None: ...
    def version(self) -> str: return ""
    def live_logs(self, rsyslog: Rsyslog) -> dict[str, Path]: ...
    def copy_logs(self, run: "PhaseRun") -> None: ...
    def analyzed_logs(self, run: "PhaseRun") -> list[tuple[str, Path]]: ...


class Postfix(MTA):
    name = "postfix"
    followed = "syslog-traditional"
    # Postfix words a 421 to EHLO exactly as a 421 greeting: "host H[A] refused to talk to
    # me: 421 ..." (no "in reply to EHLO command"), so the event can only say greeting.
    stage_aliases = {"helo": {"greeting"}}

    def install(self, packages: Packages) -> None:
        packages.purge(CONFLICTING["postfix"])
        EXIM_CONF.unlink(missing_ok=True)
        preseed = ("postfix postfix/main_mailer_type select Local only\n"
                   f"postfix postfix/mailname string {SENDER_HOST}\n")
        packages.install(MTA_PACKAGES["postfix"], preseed)

    def configure(self, scenario: Scenario) -> None:
        settings = []
        for line in render_template("postfix-main.cf", {"SENDER_HOST": SENDER_HOST}).splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                settings.append(line)
        sh(["postconf", "-e"] + settings)
        # No chroot: the smtp client resolves receiver names with /etc/hosts itself.
        sh(["postconf", "-F", "*/*/chroot = n"])
        POSTFIX_TRANSPORT.write_text(
            "# deferwatch end-to-end test: each test domain goes to its receiver by name.\n" +
            "".join(f"{d}\tsmtp:[{r.hostname}]:25\n"
                    for r in scenario.receivers for d in r.domains))
        Path("/etc/mailname").write_text(SENDER_HOST + "\n")
        sh(["newaliases"])
        sh(["postfix", "check"])

    def running(self) -> bool:
        return sh(["postfix", "status"], check=False, quiet=True).returncode == 0

    def start(self, ns: NetNamespace | None) -> None:
        if self.running():
            sh(["postfix", "stop"])
        sh(["postsuper", "-d", "ALL"], check=False)
        sh(["postfix", "start"])
        deadline = time.monotonic() + 15
        while not self.running():
            if time.monotonic() > deadline:
                raise HarnessError("postfix did not start")
            time.sleep(0.2)

    def inject(self, msg: Message, sender: str) -> None:
        sh(["/usr/sbin/sendmail", "-i", "-f", sender, "--", msg.recipient],
           input=msg.render(sender), quiet=True, timeout=30)

    def stop(self) -> None:
        if shutil.which("postfix") and self.running():
            sh(["postfix", "stop"], check=False)
            deadline = time.monotonic() + 15
            while self.running() and time.monotonic() < deadline:
                time.sleep(0.2)

    def cleanup(self) -> None:
        if shutil.which("postsuper"):
            sh(["postsuper", "-d", "ALL"], check=False)

    def version(self) -> str:
        cp = sh(["postconf", "-h", "mail_version"], check=False, quiet=True)
        return f"Postfix {cp.stdout.decode().strip()}"

    def live_logs(self, rsyslog: Rsyslog) -> dict[str, Path]:
        return {"syslog-traditional": rsyslog.traditional, "syslog-rfc3339": rsyslog.rfc3339}

    def copy_logs(self, run: "PhaseRun") -> None:
        pass  # rsyslogd already writes into the output directory

    def analyzed_logs(self, run: "PhaseRun") -> list[tuple[str, Path]]:
        return [("syslog-traditional", run.logs["syslog-traditional"]),
                ("syslog-rfc3339", run.logs["syslog-rfc3339"])]


class Exim(MTA):
    name = "exim"
    netns = True
    followed = "exim-mainlog"

    def __init__(self, to_syslog: bool = True) -> None:
        self.to_syslog = to_syslog
        self.daemon: subprocess.Popen | None = None
        self.ns: NetNamespace | None = None

    def install(self, packages: Packages) -> None:
        # Debian's policy-rc.d may keep the package scripts from stopping Postfix: stop it
        # first, so no master process outlives the purge.
        if shutil.which("postfix") and Postfix().running():
            sh(["postfix", "stop"], check=False)
        packages.purge(CONFLICTING["exim"])
        packages.install(MTA_PACKAGES["exim"])
        # Without a policy-rc.d that forbids it, the package scripts start Debian's own
        # daemon (outside the test's namespace, with Debian's configuration): stop it.
        if Path("/run/exim4/exim.pid").exists() and Path("/etc/init.d/exim4").exists():
            sh(["/etc/init.d/exim4", "stop"], check=False)

    def configure(self, scenario: Scenario) -> None:
        routes = " ; ".join(f"{d} {r.hostname} byname"
                            for r in scenario.receivers for d in r.domains)
        EXIM_CONF.write_text(render_template("exim4.conf", {
            "SENDER_HOST": SENDER_HOST, "ROUTE_LIST": routes,
            "SYSLOG_PATH": " : syslog" if self.to_syslog else ""}))
        sh(["exim4", "-bV"], quiet=True)  # syntax check; raises with Exim's message

    def clear_spool(self) -> None:
        for sub in ("input", "msglog", "db"):
            d = EXIM_SPOOL / sub
            if d.is_dir():
                for p in d.rglob("*"):
                    if p.is_file():
                        p.unlink(missing_ok=True)

    def start(self, ns: NetNamespace | None) -> None:
        self.ns = ns
        self.clear_spool()
        EXIM_LOG_DIR.mkdir(parents=True, exist_ok=True)
        for name in ("mainlog", "rejectlog", "paniclog"):
            p = EXIM_LOG_DIR / name
            if p.exists():
                p.write_bytes(b"")
        # Foreground daemon: runs the queue every 10s; its listener is on 127.0.0.1:2525.
        cmd = ["exim4", "-bdf", "-q10s", "-oP", str(EXIM_PID)]
        log("$ " + " ".join(cmd))
        self.daemon = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        if self.daemon.poll() is not None:
            raise HarnessError(f"exim4 daemon exited {self.daemon.returncode}; see "
                               f"{EXIM_LOG_DIR}/paniclog")

    def inject(self, msg: Message, sender: str) -> None:
        sh(["exim4", "-odb", "-i", "-f", sender, "--", msg.recipient],
           input=msg.render(sender), quiet=True, timeout=30)

    def stop(self) -> None:
        if self.daemon is not None:
            stop_process(self.daemon, 10)
            self.daemon = None
        if self.ns is not None:
            # Deliveries still under way (a silent receiver's timeout) end within seconds;
            # the ones that do not are stopped (they are ours: inside our namespace).
            deadline = time.monotonic() + 12
            while self.ns.pids("exim") and time.monotonic() < deadline:
                time.sleep(0.3)
            for pid in self.ns.pids("exim"):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)

    def cleanup(self) -> None:
        self.clear_spool()

    def version(self) -> str:
        cp = sh(["exim4", "-bV"], check=False, quiet=True)
        first = cp.stdout.decode(errors="replace").splitlines()[:1]
        return first[0] if first else "exim"

    def live_logs(self, rsyslog: Rsyslog) -> dict[str, Path]:
        return {"exim-mainlog": EXIM_LOG_DIR / "mainlog",
                "syslog-traditional": rsyslog.traditional, "syslog-rfc3339": rsyslog.rfc3339}

    def copy_logs(self, run: "PhaseRun") -> None:
        for name in ("mainlog", "rejectlog", "paniclog"):
            src = EXIM_LOG_DIR / name
            if src.exists():
                shutil.copyfile(src, run.out_dir / f"exim-{name}")
        run.logs["exim-mainlog"] = run.out_dir / "exim-mainlog"

    def analyzed_logs(self, run: "PhaseRun") -> list[tuple[str, Path]]:
        out = [("exim-mainlog", run.out_dir / "exim-mainlog")]
        if self.to_syslog:
            out += [("syslog-traditional", run.logs["syslog-traditional"]),
                    ("syslog-rfc3339", run.logs["syslog-rfc3339"])]
        return out


# ---------------------------------------------------------------------------------------
# One phase
# ---------------------------------------------------------------------------------------

@dataclass
class PhaseRun:
    """What hooks see. logs: live log files by kind while the phase runs (after it, the
    copies in out_dir). problems: append a string to fail the run."""
    name: str
    out_dir: Path
    deferwatch: Path
    scenario: Scenario
    record: Path
    messages: list[Message] = field(default_factory=list)
    logs: dict[str, Path] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    started: dt.datetime | None = None
    cutoff: dt.datetime | None = None
    mta_version: str = ""
    summary: list[str] = field(default_factory=list)
    counts: collections.Counter = field(default_factory=collections.Counter)  # direct, by cause
    held: collections.Counter = field(default_factory=collections.Counter)  # held back, by cause
    primary_rows: list = field(default_factory=list)  # (receiver, counts, ok) of the first log
    live: "live.LivePhase | None" = None


class Hooks:
    def __init__(self, path: Path | None) -> None:
        self.module = None
        if path:
            spec = importlib.util.spec_from_file_location("deferwatch_e2e_hooks", path)
            if spec is None or spec.loader is None:
                raise HarnessError(f"cannot load hooks from {path}")
            self.module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(self.module)

    def call(self, name: str, run: PhaseRun) -> None:
        fn = getattr(self.module, name, None) if self.module else None
        if fn is not None:
            log(f"hook {name}")
            fn(run)


def settle(run: PhaseRun, mta: MTA, timeout: float, check_leaks: bool) -> None:
    """Waits until every receiver's script is done and every receiver that recovers has
    accepted all its messages (at most `timeout` seconds)."""
    scenario = run.scenario
    expected = collections.defaultdict(set)
    for m in run.messages:
        expected[m.receiver.name].add(m.message_id)
    deadline = time.monotonic() + timeout
    last_report = 0.0
    leaks: set[str] = set()
    while True:
        if check_leaks:
            leaks.update(nonlocal_smtp_connections())
        record = read_record(run.record)
        accepted = collections.defaultdict(set)
        scripted = collections.Counter()
        silences = collections.Counter()
        for rec in record:
            if rec.get("stage") == "end-of-data" and rec.get("code") == 250:
                accepted[rec["receiver"]].add(rec.get("message_id"))
            if rec.get("scripted") and rec.get("code"):
                scripted[rec["receiver"]] += 1
            if rec.get("event") == "silence" and rec.get("closed_by") == "client":
                silences[rec["receiver"]] += 1
        waiting = []
        for r in scenario.receivers:
            if r.recovers:
                missing = len(expected[r.name] - accepted[r.name])
                if missing:
                    waiting.append(f"{r.name} ({missing} to accept)")
                elif r.mode == "script" and scripted[r.name] < int(r.script.get("times", 0)):
                    waiting.append(f"{r.name} ({scripted[r.name]} deferrals so far)")
            elif r.mode == "silent" and silences[r.name] < 2:
                waiting.append(f"{r.name} ({silences[r.name]} timeouts so far)")
        if not waiting:
            log("settled: every scripted deferral happened and every receiver that "
                "recovers has all its mail")
            break
        now = time.monotonic()
        if now > deadline:
            run.problems.append(f"{run.name}: not settled after {timeout:.0f}s; waiting for "
                                f"{', '.join(waiting)}")
            log(run.problems[-1])
            break
        if now - last_report > 15:
            log(f"waiting for {', '.join(waiting)}")
            last_report = now
        time.sleep(0.5)
    if leaks:
        run.problems.append(f"{run.name}: connections to port 25 off this machine: "
                            f"{', '.join(sorted(leaks))}")


def run_phase(mta: MTA, args: argparse.Namespace, scenario: Scenario, packages: Packages,
              hooks: Hooks, run_id: str) -> PhaseRun:
    out_dir = args.out / mta.name
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    run = PhaseRun(name=mta.name, out_dir=out_dir, deferwatch=args.dw, scenario=scenario,
                   record=out_dir / "receiver-record.jsonl")
    log(f"===== phase {mta.name} =====")
    t = time.monotonic()
    mta.install(packages)
    mta.configure(scenario)
    run.mta_version = mta.version()
    run.timings["install+configure"] = time.monotonic() - t
    log(f"{run.mta_version}")

    t = time.monotonic()
    run.messages = plan_messages(scenario, mta.name, run_id)
    ns = NetNamespace() if mta.netns else None
    with contextlib.ExitStack() as stack:
        if ns is not None:
            ns.enter()
            stack.callback(ns.leave)
        rsyslog = Rsyslog(out_dir, mta.name)
        stack.callback(rsyslog.stop)
        rsyslog.start()
        receiver = ReceiverProcess(scenario, run.record)
        stack.callback(receiver.stop)
        receiver.start()
        stack.callback(mta.stop)
        mta.start(ns)
        run.logs = mta.live_logs(rsyslog)
        if not args.no_live:
            run.live = live.LivePhase(run, mta.followed, run.logs[mta.followed],
                                      rsyslog.traditional, rsyslog.rfc3339, SYSLOG_SOCKET,
                                      args.resolve_timeout)
            stack.callback(run.live.stop)
            run.live.start()
        hooks.call("before_mail", run)

        run.started = utc_now()
        log(f"sending {len(run.messages)} messages to {len(scenario.receivers)} receivers")
        for m in run.messages:
            mta.inject(m, scenario.sender)
            time.sleep(0.02)
        settle(run, mta, args.phase_timeout, check_leaks=not mta.netns)
        run.timings["mail (send to settled)"] = time.monotonic() - t
        if run.live:
            run.live.settled()
        hooks.call("settled", run)

        run.cutoff = utc_now()
        time.sleep(3)  # the MTA logs what it just learned
        t = time.monotonic()
        mta.stop()
        if run.live:
            run.live.mta_stopped()
        hooks.call("mta_stopped", run)
        receiver.stop()
        rsyslog.stop()
        run.timings["stop"] = time.monotonic() - t
    mta.copy_logs(run)
    mta.cleanup()

    t = time.monotonic()
    check_phase(run, mta)
    run.timings["analyze+check"] = time.monotonic() - t
    if run.live:
        run.live.after_phase()
    hooks.call("after_phase", run)
    return run


# ---------------------------------------------------------------------------------------
# The check: deferwatch's events against the receivers' record
# ---------------------------------------------------------------------------------------

def analyze_events(dw: Path, path: Path, out_copy: Path) -> list[dict]:
    cp = sh([str(dw), "analyze", "--events", str(path)], check=False, quiet=True)
    out_copy.write_bytes(cp.stdout)
    if cp.returncode != 0:
        raise HarnessError(f"deferwatch analyze --events {path} exited {cp.returncode}: "
                           f"{cp.stderr.decode(errors='replace')[-2000:]}")
    events = []
    for line in cp.stdout.decode().splitlines():
        if line.strip():
            events.append(json.loads(line))
    return events


def is_secondary(ev: dict) -> bool:
    """A deferral the MTA made without talking to the receiver: Postfix's "delivery
    temporarily suspended" for a destination it holds back, Exim's "retry time not reached"."""
    text = (ev.get("text") or "").lower()
    return (bool(ev.get("inherited")) or text.startswith("delivery temporarily suspended")
            or "retry time not reached" in text)


def check_receiver(r: Receiver, events: list[dict], record: list[dict], cutoff: dt.datetime,
                   planned: list[Message], label: str,
                   stage_aliases: dict[str, set[str]]) -> tuple[list[str], dict]:
    """Returns (problems, counts) for one receiver in one analyzed log."""
    problems: list[str] = []
    deferred = [e for e in events if e.get("status") == "deferred"]
    sent = [e for e in events if e.get("status") == "sent"]
    other = [e for e in events if e.get("status") not in ("deferred", "sent")]
    secondary = [e for e in deferred if is_secondary(e)]
    direct = [e for e in deferred if not is_secondary(e)]
    counts = {"direct": len(direct), "secondary": len(secondary), "sent": len(sent),
              "scripted": 0}
    where = f"{label}: {r.name} ({', '.join(r.domains)})"

    for e in other:
        problems.append(f"{where}: unexpected status {e.get('status')}: "
                        f"{e.get('recipient')} {short(e.get('text'))}")

    # Cause, domain and provider of every deferral.
    bad = []
    for e in deferred:
        wrong = []
        if e.get("cause") != r.cause:
            wrong.append(f"cause {e.get('cause')} (rule {e.get('rule')}), expected {r.cause}")
        if (e.get("domain") or "").lower() not in r.domains:
            wrong.append(f"domain {e.get('domain')}")
        expect_provider = r.provider
        if e.get("provider") != expect_provider:
            # A held-back destination has no relay in the line; only the domain names the
            # provider then.
            if not (is_secondary(e) and not e.get("relay") and e.get("provider") is None):
                wrong.append(f"provider {e.get('provider')}, expected {expect_provider}")
        if wrong:
            bad.append(f"  {fmt_time(e.get('time'))} {e.get('recipient')} "
                       f"{'(held back) ' if is_secondary(e) else ''}{'; '.join(wrong)}\n"
                       f"      text: {short(e.get('text'), 300)}")
    if bad:
        problems.append(f"{where}: {len(bad)} of {len(deferred)} deferral events are wrong:\n"
                        + "\n".join(bad))

    mine = [rec for rec in record if rec.get("receiver") == r.name]
    if r.mode in ("script", "greylist"):
        scripted = [rec for rec in mine if rec.get("scripted") and rec.get("code")]
        counts["scripted"] = len(scripted)
        code, dsn, stage = r.script.get("code"), r.script.get("dsn"), r.script.get("stage")
        # Each direct event must carry the scripted reply.
        counts["no_stage"] = sum(1 for e in direct if e.get("stage") is None)
        for e in direct:
            wrong = []
            if e.get("code") is not None and e.get("code") != code:
                wrong.append(f"code {e.get('code')} (scripted {code})")
            if dsn and e.get("dsn") not in (None, dsn):
                wrong.append(f"dsn {e.get('dsn')} (scripted {dsn})")
            if e.get("code") is None:
                wrong.append("no reply code")
            if e.get("stage") not in ({None, stage} | stage_aliases.get(stage, set())):
                wrong.append(f"stage {e.get('stage')} (scripted {stage})")
            if wrong:
                problems.append(f"{where}: event {fmt_time(e.get('time'))} {e.get('recipient')}: "
                                f"{'; '.join(wrong)}\n      text: {short(e.get('text'), 300)}")
        if stage in ("rcpt", "end-of-data"):
            want = collections.Counter(rcpt.lower() for rec in scripted
                                       for rcpt in rec.get("recipients") or [])
            got = collections.Counter((e.get("recipient") or "").lower() for e in direct)
            if want != got:
                problems.append(f"{where}: scripted deferrals and deferral events differ "
                                f"(per recipient):\n" + diff_table(scripted, direct, want, got))
        else:
            # Greeting, EHLO, MAIL: the receiver does not learn the recipient; count them.
            if len(scripted) != len(direct):
                problems.append(f"{where}: {len(scripted)} scripted deferrals at {stage}, "
                                f"{len(direct)} deferral events:\n"
                                + diff_table(scripted, direct, None, None))
    elif r.mode == "silent":
        closes = [rec for rec in mine if rec.get("event") == "silence"]
        before = [rec for rec in closes if rec.get("closed_by") == "client"
                  and parse_time(rec["time"]) < cutoff]
        counts["scripted"] = len(before)
        if not before:
            problems.append(f"{where}: the MTA never gave up waiting for the greeting")
        if not len(before) <= len(direct) <= len(closes):
            problems.append(f"{where}: {len(direct)} timeout events, but the MTA gave up "
                            f"{len(before)} connections before the cutoff "
                            f"({len(closes)} connections in all):\n"
                            + diff_table(closes, direct, None, None))
    elif not r.listen:
        if not direct:
            problems.append(f"{where}: no deferral event for a receiver that refuses "
                            f"connections")
    else:  # accept
        if deferred:
            problems.append(f"{where}: {len(deferred)} deferral events for a receiver that "
                            f"only accepts:\n" + diff_table([], deferred, None, None))

    # Deliveries: every message of a receiver that recovers is sent exactly once.
    rcpts = collections.Counter(m.recipient.lower() for m in planned)
    got_sent = collections.Counter((e.get("recipient") or "").lower() for e in sent)
    if r.recovers and got_sent != rcpts:
        missing = sorted((rcpts - got_sent).elements())
        extra = sorted((got_sent - rcpts).elements())
        problems.append(f"{where}: delivered events differ from the messages sent: "
                        f"missing {missing}, extra {extra}")
    if not r.recovers and sent:
        problems.append(f"{where}: {len(sent)} deliveries to a receiver that never accepts")
    return problems, counts


def diff_table(scripted: list[dict], events: list[dict], want, got) -> str:
    """Scripted replies (left) and deferral events (right), in time order; with recipient
    counters, the entries without a partner are marked with '!'."""
    left = sorted(scripted, key=lambda x: x.get("time") or "")
    right = sorted(events, key=lambda x: x.get("time") or "")
    lines = [f"      {'receiver record (time stage code dsn recipients)':<60}| "
             f"deferwatch events (time recipient stage code dsn cause text)"]
    unmatched_l = collections.Counter()
    unmatched_r = collections.Counter()
    if want is not None and got is not None:
        unmatched_l = want - got
        unmatched_r = got - want
    for i in range(max(len(left), len(right))):
        ltxt = rtxt = ""
        if i < len(left):
            rec = left[i]
            rcpts = ",".join(rec.get("recipients") or []) or "-"
            mark = " "
            for rc in rec.get("recipients") or []:
                if unmatched_l[rc.lower()] > 0:
                    unmatched_l[rc.lower()] -= 1
                    mark = "!"
            code = rec.get("code") if rec.get("code") is not None else rec.get("event", "")
            ltxt = (f"{mark}{fmt_time(rec.get('time'))} {rec.get('stage')} {code} "
                    f"{rec.get('dsn') or ''} {rcpts}")
        if i < len(right):
            e = right[i]
            rc = (e.get("recipient") or "").lower()
            mark = " "
            if unmatched_r[rc] > 0:
                unmatched_r[rc] -= 1
                mark = "!"
            rtxt = (f"{mark}{fmt_time(e.get('time'))} {e.get('recipient')} {e.get('stage')} "
                    f"{e.get('code')} {e.get('dsn')} {e.get('cause')} "
                    f"{short(e.get('text'), 60)}")
        lines.append(f"      {ltxt:<60.60}| {rtxt}")
    if want is not None and got is not None:
        missing, extra = sorted((want - got).elements()), sorted((got - want).elements())
        lines.append(f"      scripted but no event: {', '.join(missing) or '-'}; "
                     f"events without a scripted reply: {', '.join(extra) or '-'}")
    return "\n".join(lines)


def relay_addresses(path: Path) -> set[str]:
    """Every address a log line says mail was sent to or a connection was made to."""
    pat = re.compile(r"(?:relay=|connect to |host |H=)[^\s\[\]]*\s?\[([0-9A-Fa-f.:]+)\]")
    out = set()
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            for m in pat.finditer(line):
                out.add(m.group(1))
    return out


def check_phase(run: PhaseRun, mta: MTA) -> None:
    scenario = run.scenario
    record = read_record(run.record)
    assert run.cutoff is not None
    planned_by = collections.defaultdict(list)
    for m in run.messages:
        planned_by[m.receiver.name].append(m)

    # Unscripted non-2xx/3xx replies mean the MTA did something the receiver did not expect.
    for rec in record:
        code = rec.get("code")
        if code and code >= 400 and not rec.get("scripted"):
            run.problems.append(f"{run.name}: receiver {rec['receiver']} answered "
                                f"{short(rec.get('text'))} to {rec.get('command')!r}")

    for label, path in mta.analyzed_logs(run):
        if not path.exists():
            run.problems.append(f"{run.name}/{label}: {path} does not exist")
            continue
        # Nothing left the machine: every relay and connection in the log is loopback.
        foreign = sorted(a for a in relay_addresses(path)
                         if not (a.startswith("127.") or a == "::1"))
        if foreign:
            run.problems.append(f"{run.name}/{label}: relays off this machine: {foreign}")
        events = analyze_events(run.deferwatch, path, run.out_dir / f"events-{label}.jsonl")
        by_receiver = collections.defaultdict(list)
        for e in events:
            r = scenario.receiver_of_domain(e.get("domain"))
            if r is None:
                run.problems.append(f"{run.name}/{label}: event for an unknown destination: "
                                    f"{e.get('recipient')} {e.get('status')} "
                                    f"{short(e.get('text'))}")
                continue
            by_receiver[r.name].append(e)
        rows = []
        for r in scenario.receivers:
            problems, counts = check_receiver(r, by_receiver[r.name], record, run.cutoff,
                                              planned_by[r.name], f"{run.name}/{label}",
                                              mta.stage_aliases)
            run.problems.extend(problems)
            rows.append((r, counts, not problems))
            if counts.get("no_stage"):
                run.notes.append(f"{run.name}/{label}: {r.name}: {counts['no_stage']} of "
                                 f"{counts['direct']} events name no stage (scripted "
                                 f"{r.stage})")
            if label == mta.analyzed_logs(run)[0][0]:
                run.primary_rows.append((r, counts, not problems))
                if r.cause:
                    run.counts[r.cause] += counts["direct"]
                    run.held[r.cause] += counts["secondary"]
        run.summary.append(summary_table(f"{run.name}: {label} ({len(events)} events)", rows))
    replay_alerts(run, mta.analyzed_logs(run)[0][1])


def replay_alerts(run: PhaseRun, path: Path) -> None:
    """Informational until the live alert checks exist: which destinations the replay of
    the primary log opens alerts for (built-in defaults), against the scenario's
    expect.alert. Saved as alerts-replay.jsonl; differences are notes, not failures."""
    cp = sh([str(run.deferwatch), "analyze", "--alerts", "--json", str(path)], check=False,
            quiet=True)
    (run.out_dir / "alerts-replay.jsonl").write_bytes(cp.stdout)
    opened = collections.defaultdict(set)
    for line in cp.stdout.decode().splitlines():
        try:
            a = json.loads(line)
        except ValueError:
            continue
        if a.get("state") == "open":
            opened[(a.get("domain") or "").lower()].add(a.get("cause"))
    for r in run.scenario.receivers:
        got = set().union(*(opened.get(d, set()) for d in r.domains))
        want = {r.cause} if r.alert else set()
        if got != want:
            run.notes.append(f"{run.name}: alert replay for {r.name}: opened "
                             f"{sorted(got) or 'none'}, scenario expects "
                             f"{sorted(want) or 'none'}")
    n = sum(len(v) for v in opened.values())
    run.notes.append(f"{run.name}: alert replay of {path.name}: {n} alerts opened "
                     f"({', '.join(sorted(f'{d} {c}' for d, cs in opened.items() for c in cs))})")


def summary_table(title: str, rows) -> str:
    lines = [title,
             f"  {'receiver':<27} {'expected cause':<20} {'scripted':>8} {'deferred':>8} "
             f"{'held':>5} {'sent':>5}  result"]
    for r, c, ok in rows:
        lines.append(f"  {r.name:<27} {r.cause or '-':<20} {c['scripted']:>8} {c['direct']:>8} "
                     f"{c['secondary']:>5} {c['sent']:>5}  {'ok' if ok else 'FAILED'}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Before the phases: the scenario's texts classify as the scenario says
# ---------------------------------------------------------------------------------------

def preflight_classify(dw: Path, scenario: Scenario) -> list[str]:
    problems = []
    for r in scenario.receivers:
        if not r.script or not r.cause:
            continue
        cp = sh([str(dw), "classify", "--json", "--relay", r.hostname, "--domain", r.domains[0],
                 r.reply_text()], check=False, quiet=True)
        try:
            got = json.loads(cp.stdout.decode())
        except ValueError:
            problems.append(f"classify failed for {r.name}: {cp.stderr.decode()[-500:]}")
            continue
        if got.get("cause") != r.cause or got.get("provider") != r.provider:
            problems.append(f"scenario {r.name}: its reply classifies as {got.get('cause')}/"
                            f"{got.get('provider')} (rule {got.get('rule')}), the scenario "
                            f"expects {r.cause}/{r.provider}: {short(r.reply_text(), 200)}")
    return problems


# ---------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------

def on_signal(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    p = argparse.ArgumentParser(
        description="deferwatch end to end with real Postfix and real Exim (run as root on "
                    "Debian 12; installs and purges the MTAs).")
    p.add_argument("--deferwatch", type=Path, default=REPO / ".build/release/deferwatch",
                   help="the deferwatch binary (copied to /tmp/dw-e2e first)")
    p.add_argument("--out", type=Path, required=True,
                   help="where each phase leaves its logs, the receivers' record and the "
                        "events (OUT/postfix, OUT/exim)")
    p.add_argument("--scenario", type=Path, default=HERE / "scenario.json")
    p.add_argument("--phases", default="postfix,exim",
                   help="comma-separated, in order (default: postfix,exim)")
    p.add_argument("--phase-timeout", type=float, default=240,
                   help="seconds a phase may take from the first message to settled")
    p.add_argument("--hooks", type=Path, help="a Python file with hook functions")
    p.add_argument("--resolve-timeout", type=float, default=150,
                   help="seconds to wait after settling for the alerts of the receivers that "
                        "recovered to resolve")
    p.add_argument("--no-live", action="store_true",
                   help="skip the live daemon and journal checks (analyze only)")
    p.add_argument("--keep-mta", action="store_true",
                   help="leave the last phase's MTA installed (default: purge every package "
                        "the harness installed)")
    p.add_argument("--replace-mta", action="store_true",
                   help="allow replacing an MTA this harness did not install")
    p.add_argument("--no-exim-syslog", action="store_true",
                   help="Exim logs only to its mainlog (default: also to syslog)")
    args = p.parse_args()

    if os.geteuid() != 0:
        print("run.py: must run as root (it installs packages and edits /etc/hosts)",
              file=sys.stderr)
        return 2
    phases = [s.strip() for s in args.phases.split(",") if s.strip()]
    for ph in phases:
        if ph not in ("postfix", "exim"):
            print(f"run.py: unknown phase {ph}", file=sys.stderr)
            return 2

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    runs: list[PhaseRun] = []
    packages = Packages()
    hosts: HostsEntries | None = None
    status = 0
    # One run at a time: a second one would purge the first one's MTA under it.
    WORK.mkdir(parents=True, exist_ok=True)
    lock = open(WORK / ".lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"run.py: another run of this harness holds {WORK / '.lock'}", file=sys.stderr)
        return 2
    try:
        args.out = args.out.resolve()
        args.out.mkdir(parents=True, exist_ok=True)
        if not args.deferwatch.is_file():
            raise HarnessError(f"{args.deferwatch}: no such binary")
        # What a run killed with SIGKILL left: its /etc/hosts entries and its processes
        # (a daemon of the last run may still be running the binary replaced below).
        HostsEntries.cleanup_leftovers()
        stop_leftover_processes()
        args.dw = WORK / "deferwatch"
        tmp = WORK / f".deferwatch.{os.getpid()}"
        shutil.copy2(args.deferwatch, tmp)
        os.replace(tmp, args.dw)  # a new file: a binary still running elsewhere is no obstacle
        log(f"deferwatch: {args.deferwatch} copied to {args.dw}")
        scenario = Scenario.load(args.scenario)
        hooks = Hooks(args.hooks)
        packages.check_foreign_mta(args.replace_mta)
        for tool in ("rsyslogd", "logger", "ip", "apt-get", "journalctl"):
            if shutil.which(tool) is None:
                raise HarnessError(f"{tool} is needed (apt-get install rsyslog iproute2)")
        if not args.no_live and not live.JOURNAL_REMOTE.exists():
            raise HarnessError(f"{live.JOURNAL_REMOTE} is needed for the journal pass "
                               f"(apt-get install systemd-journal-remote)")
        problems = preflight_classify(args.dw, scenario)
        if problems:
            for pr in problems:
                log(pr)
            raise HarnessError("the scenario's replies do not classify as it expects")
        log("scenario replies classify as expected")
        if syslog_socket_state() == "live":
            raise HarnessError(f"{SYSLOG_SOCKET} belongs to a running syslog daemon; the test "
                               f"runs its own rsyslogd there")

        hosts = HostsEntries(scenario)
        hosts.install()
        run_id = utc_now().strftime("%Y%m%dT%H%M%S")
        for ph in phases:
            mta: MTA = Postfix() if ph == "postfix" else Exim(to_syslog=not args.no_exim_syslog)
            t = time.monotonic()
            run = run_phase(mta, args, scenario, packages, hooks, run_id)
            run.timings["phase total"] = time.monotonic() - t
            runs.append(run)
    except HarnessError as e:
        log(f"harness error: {e}")
        status = 2
    except KeyboardInterrupt as e:
        log(f"interrupted ({e})")
        status = 2
    finally:
        if hosts is not None:
            try:
                hosts.restore()
            except Exception as e:  # never leave the entries behind silently
                log(f"could not restore /etc/hosts: {e}")
                status = 2
        if not args.keep_mta:
            EXIM_CONF.unlink(missing_ok=True)
            POSTFIX_TRANSPORT.unlink(missing_ok=True)
            try:
                packages.restore()
                log("purged the packages the harness installed")
                if hosts is None or not hosts.installed:
                    shutil.rmtree(STATE_DIR, ignore_errors=True)
            except HarnessError as e:
                log(f"could not purge the packages: {e}")
        # The scratch directory (pid files, the binary's copy, sockets, the daemons' state):
        # its processes are stopped, then it goes, also after a failure.
        stop_leftover_processes()
        shutil.rmtree(WORK, ignore_errors=True)

    print()
    tables = []
    for run in runs:
        if run.live and run.primary_rows:
            tables += run.live.summary(run.primary_rows)
    for run in runs:
        print(f"== {run.name}: {run.mta_version}")
        for s in run.summary:
            print(s)
        print("  timings: " + ", ".join(f"{k} {v:.0f}s" for k, v in run.timings.items()))
        print("  deferral events checked per cause (replies + held back by the MTA): "
              + ", ".join(f"{k} {v}+{run.held[k]}" for k, v in sorted(run.counts.items())))
        for note in run.notes:
            print("  note: " + note)
        print(f"  logs and record: {run.out_dir}")
        print()
    if tables:
        print("== summary (primary log; events = deferral events with the receiver's reply + "
              "held back by the MTA; alert times are log times in UTC)")
        for line in tables:
            print(line)
        print()
    problems = [pr for run in runs for pr in run.problems]
    for pr in problems:
        print("FAIL " + pr)
        print()
    print(f"total {time.monotonic() - T0:.0f}s")
    if status == 0 and problems:
        status = 1
    if status == 0:
        print("PASS")
    return status


if __name__ == "__main__":
    sys.exit(main())
