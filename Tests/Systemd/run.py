#!/usr/bin/env python3
"""deferwatch's unit, run for real: the Debian package under a real systemd and journald.

Boots systemd as PID 1 of private namespaces on a throwaway overlay of this machine's root
(../shared/tools/systemd-sandbox: its own journald, /dev/log, network namespace with only
loopback), installs the package there with `dpkg -i`, and checks through systemctl and
journalctl what an operator would see:

  install      dpkg -i starts deferwatch.service (postinst)
  active       Type=notify reaches active; the process runs as the dynamic user, not root,
               with the supplementary groups systemd-journal and adm (/proc/PID/status)
  priority     no "Failed to set thread priority" (or other setpriority noise) at the start
  security     `systemd-analyze security deferwatch.service` rates it 2.5 or less
  follow       `logger -t postfix/smtp` and `systemd-cat -t exim4` deferrals are followed
               (the counters of `deferwatch status --json`); enough of them, per the shipped
               thresholds ([alerts.default]: 4 deferrals of 2 messages, a fifth of the
               attempts, in 15 minutes), open a rate_limit alert, which reaches the journal
               through syslog (/dev/log, _TRANSPORT=syslog, identifier deferwatch)
  reload       `systemctl reload` with a bad configuration is refused and the running one kept
               (same MainPID, still active, said in the journal and in the status); a good
               configuration then reloads
  kill -9      the main process killed: restarted (new MainPID), the open alert kept (same
               id), nothing counted twice (the counters equal before and after; lines were
               written just before the kill, so they may come after the last checkpoint)
  crash        SIGSEGV: restarted, and no noise of the Swift runtime's crash backtracer under
               MemoryDenyWriteExecute ("cannot enable executable stack" ...): either a
               backtrace is printed or the unit turns the backtracer off (SWIFT_BACKTRACE)
  watchdog     SIGSTOP: the watchdog restarts it. A drop-in sets WatchdogSec=3s (the unit's
               30s would make the test wait a minute) and is removed again afterwards
  metrics      [status] metrics_port set: `curl 127.0.0.1:PORT/metrics` answers inside the
               sandbox's network namespace, through the unit's IPAddressDeny=any with
               IPAddressAllow=localhost
  purge        dpkg -P stops the unit and removes its state

The machine's own /tmp keeps a canary file throughout, checked at the end, and the sandbox
is torn down also when a check fails or the script is interrupted (systemd-sandbox run
stops it when this script's inner part exits, whatever its status). The toolchain (/opt/swift)
is hidden inside, as on a machine the package is installed on.

Usage (as root, on Debian 12):
    python3 Tests/Systemd/run.py --deb deferwatch_VERSION_amd64.deb

Exit status: 0 all checks passed, 1 a check failed, 2 the test could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SANDBOX = os.path.normpath(os.path.join(REPO, "..", "shared", "tools", "systemd-sandbox"))
UNIT = "deferwatch.service"
CONFIG = "/etc/deferwatch/deferwatch.toml"
DROPIN_DIR = "/etc/systemd/system/deferwatch.service.d"
METRICS_PORT = 9187
# The unit's RestartSec= is 5s: every restart below waits at least that long.
RESTART_WAIT = 30


# ---------------------------------------------------------------------------------------
# The outer part: on the host, around the sandbox.

def outer(args: argparse.Namespace) -> int:
    started = time.monotonic()
    if os.geteuid() != 0:
        print("Tests/Systemd: must run as root (it boots systemd in private namespaces)", file=sys.stderr)
        return 2
    deb = os.path.abspath(args.deb)
    if not os.path.isfile(deb):
        print(f"Tests/Systemd: no such package: {deb}", file=sys.stderr)
        return 2
    if not os.access(SANDBOX, os.X_OK):
        print(f"Tests/Systemd: {SANDBOX} is missing", file=sys.stderr)
        return 2
    fd, canary = tempfile.mkstemp(prefix="deferwatch-systemd-canary.", dir="/tmp")
    os.write(fd, b"the sandbox must not touch the machine's /tmp\n")
    os.close(fd)
    env = dict(os.environ)
    env["SBX_NAME"] = f"sbxdeferwatch{os.getpid()}"
    env["SBX_HIDE"] = "/opt/swift"
    # A safety net: the sandbox powers itself off even if both parts of this script die.
    env["SBX_MAX_LIFETIME"] = "900"
    cmd = [SANDBOX, "run", sys.executable, os.path.abspath(__file__), "--inner", "--deb", deb]
    try:
        rc = subprocess.run(cmd, env=env).returncode
    except KeyboardInterrupt:
        rc = 130
    # systemd-sandbox keeps a lock file per name; this run's name is its own.
    state_root = env.get("SBX_STATE_ROOT") or os.path.join(env.get("TMPDIR") or "/tmp", "systemd-sandbox")
    try:
        os.unlink(os.path.join(state_root, f".{env['SBX_NAME']}.lock"))
    except FileNotFoundError:
        pass
    # The canary: nothing inside reached the machine's /tmp.
    if os.path.exists(canary):
        os.unlink(canary)
        print("  ok    canary: the machine's /tmp kept its file")
    else:
        print("  FAIL  canary: the machine's /tmp lost its file", canary)
        rc = rc or 1
    # Nothing of the sandbox left mounted on the host.
    mounts = subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True, text=True).stdout
    left = [m for m in mounts.splitlines() if env["SBX_NAME"] in m]
    if left:
        print("  FAIL  teardown: still mounted:", " ".join(left))
        rc = rc or 1
    elapsed = time.monotonic() - started
    print(f"Tests/Systemd: {'passed' if rc == 0 else 'FAILED'} in {elapsed:.1f} s")
    return rc


# ---------------------------------------------------------------------------------------
# The inner part: on the host, with $SBX and $SBX_PID of a running sandbox.

class CheckFailed(Exception):
    pass


class Sandbox:
    def __init__(self) -> None:
        self.sbx = os.environ["SBX"]

    def run(self, *cmd: str, input: str | None = None, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        p = subprocess.run([self.sbx, "exec", *cmd], input=input, capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise CheckFailed(f"`{' '.join(cmd)}` exited {p.returncode}: {(p.stderr or p.stdout).strip()[-2000:]}")
        return p

    def sh(self, script: str, *, input: str | None = None, check: bool = True, timeout: float = 60) -> str:
        return self.run("/bin/sh", "-c", script, input=input, check=check, timeout=timeout).stdout

    def write(self, path: str, text: str, mode: str = "0644") -> None:
        self.run("/bin/sh", "-c", 'umask 022; mkdir -p "$(dirname "$1")" && cat >"$1" && chmod "$2" "$1"',
                 "sbx-write", path, mode, input=text)

    def cp_in(self, src: str, dest: str) -> None:
        p = subprocess.run([self.sbx, "cp-in", src, dest], capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise CheckFailed(f"cp-in {src} {dest}: {p.stderr.strip()}")

    def prop(self, name: str, unit: str = UNIT) -> str:
        return self.run("systemctl", "show", "-p", name, "--value", unit).stdout.strip()

    def main_pid(self) -> int:
        return int(self.prop("MainPID") or 0)

    def journal(self, *, unit: str | None = None, ident: str | None = None, transport: str | None = None,
                since: str | None = None) -> str:
        """The messages, one a line, of the entries from the cursor `since` on (exclusive), of
        `unit` (its own lines and systemd's about it), of a syslog identifier, of a transport.
        Filtered here: journalctl 252 finds nothing with field matches and --after-cursor
        when the cursor's own entry does not match."""
        cmd = ["journalctl", "--no-pager", "-q", "-o", "json"]
        if since:
            cmd += ["--after-cursor", since]
        out = []
        for line in self.run(*cmd).stdout.splitlines():
            e = json.loads(line)
            if unit and unit not in (e.get("_SYSTEMD_UNIT"), e.get("UNIT")):
                continue
            if ident and e.get("SYSLOG_IDENTIFIER") != ident:
                continue
            if transport and e.get("_TRANSPORT") != transport:
                continue
            m = e.get("MESSAGE", "")
            if isinstance(m, list):  # not UTF-8: an array of bytes
                m = bytes(m).decode("utf-8", "replace")
            out.append(m or "")
        return "\n".join(out) + ("\n" if out else "")

    def cursor(self) -> str:
        out = self.run("journalctl", "--no-pager", "-q", "-n", "0", "--show-cursor").stdout
        m = re.search(r"-- cursor: (\S+)", out)
        if not m:
            raise CheckFailed(f"journalctl --show-cursor gave no cursor: {out!r}")
        return m.group(1)

    def status(self) -> dict:
        return json.loads(self.run("deferwatch", "status", "--json").stdout)


def wait_until(what: str, pred, timeout: float, every: float = 0.2):
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = pred()
        except (CheckFailed, ValueError, subprocess.TimeoutExpired) as e:
            last = None
            err = e
        else:
            err = None
        if last:
            return last
        if time.monotonic() > deadline:
            raise CheckFailed(f"timed out after {timeout:.0f} s waiting for {what}" + (f" ({err})" if err else ""))
        time.sleep(every)


class Run:
    def __init__(self, deb: str) -> None:
        self.deb = deb
        self.s = Sandbox()
        self.results: list[tuple[str, bool, str]] = []
        self.alert_ids: list[int] = []
        self.start_cursor = ""

    # -- bookkeeping ---------------------------------------------------------------------

    def check(self, name: str, fn) -> bool:
        t0 = time.monotonic()
        try:
            detail = fn() or ""
            ok = True
        except CheckFailed as e:
            ok, detail = False, str(e)
        except Exception as e:  # a bug of the test itself is a failure too, with its traceback
            ok, detail = False, f"{type(e).__name__}: {e}\n{traceback.format_exc()}"
        took = time.monotonic() - t0
        self.results.append((name, ok, detail))
        print(f"  {'ok  ' if ok else 'FAIL'}  {name} ({took:.1f} s){': ' + detail if detail else ''}", flush=True)
        if not ok:
            self.dump()
        return ok

    def dump(self) -> None:
        """The unit's state and its last journal lines, to see why a check failed."""
        try:
            st = self.s.run("systemctl", "status", "--no-pager", "-n", "30", UNIT, check=False).stdout
            print("    " + st.replace("\n", "\n    "))
        except Exception as e:
            print(f"    (systemctl status failed: {e})")

    def wait_active(self, old_pid: int = 0, timeout: float = RESTART_WAIT) -> int:
        def ready():
            if self.s.prop("ActiveState") != "active" or self.s.prop("SubState") != "running":
                return None
            pid = self.s.main_pid()
            return pid if pid and pid != old_pid else None
        return wait_until(f"{UNIT} active" + (f" with a MainPID other than {old_pid}" if old_pid else ""), ready, timeout)

    def counts(self) -> dict:
        """What `status --json` counts of the mail log: Postfix and Exim lines, attempts by
        MTA and status, deferrals by provider and cause. (Not lines.other_programs nor
        lines.total: systemd's own lines about the restart are in the journal too.)"""
        st = self.s.status()
        lines = st["lines"]
        return {"lines": {k: lines[k] for k in ("postfix", "exim", "unrecognised")},
                "attempts": sorted((a["mta"], a["status"], a["count"]) for a in st["attempts_by_mta"]),
                "deferrals": sorted((d["provider"], d["cause"], d["count"]) for d in st["deferrals"])}

    def open_alert_ids(self) -> list[int]:
        st = self.s.status()
        return sorted(a["id"] for a in st.get("alerts", []) if a.get("state", "open") != "resolved")

    # -- log lines -----------------------------------------------------------------------

    GMAIL_REPLY = ("421-4.7.28 [203.0.113.25] Our system has detected an unusual rate of unsolicited mail "
                   "originating from your IP address. To protect our users from spam, mail sent from your IP "
                   "address has been temporarily rate limited. Please visit "
                   "https://support.google.com/mail/?p=UnsolicitedRateLimitError to review our Bulk Email "
                   "Senders Guidelines. a1b2c3d4e5f6-736v62si.630 - gsmtp")

    def postfix_deferral(self, qid: str, rcpt: str) -> None:
        line = (f"{qid}: to=<{rcpt}>, relay=gmail-smtp-in.l.google.com[142.250.102.27]:25, delay=1.2, "
                f"delays=0.1/0/0.4/0.7, dsn=4.7.28, status=deferred (host gmail-smtp-in.l.google.com"
                f"[142.250.102.27] said: {self.GMAIL_REPLY} (in reply to end of DATA command))")
        self.s.run("logger", "-t", "postfix/smtp", "--id=2601", "-p", "mail.info", "--", line)

    def exim_deferral(self, msgid: str, rcpt: str) -> None:
        line = (f"{msgid} == {rcpt} R=dnslookup T=remote_smtp defer (-44) H=gmail-smtp-in.l.google.com "
                f"[142.250.102.27]: SMTP error from remote mail server after RCPT TO:<{rcpt}>: "
                f"421-4.7.28 Our system has detected an unusual rate of unsolicited mail. - gsmtp")
        self.s.run("systemd-cat", "-t", "exim4", "-p", "info", input=line + "\n")

    # -- the checks ----------------------------------------------------------------------

    def c_install(self) -> str:
        self.start_cursor = self.s.cursor()
        self.s.cp_in(self.deb, "/root/deferwatch.deb")
        out = self.s.run("dpkg", "-i", "/root/deferwatch.deb", timeout=180)
        pid = self.wait_active()
        enabled = self.s.run("systemctl", "is-enabled", UNIT, check=False).stdout.strip()
        if enabled != "enabled":
            raise CheckFailed(f"after dpkg -i the unit is {enabled!r}, not enabled")
        return f"MainPID {pid}, enabled" + ("" if not out.stderr.strip() else f"; dpkg said: {out.stderr.strip()}")

    def c_active(self) -> str:
        if self.s.prop("Type") != "notify":
            raise CheckFailed(f"Type={self.s.prop('Type')}")
        pid = self.s.main_pid()
        status = self.s.sh(f"cat /proc/{pid}/status")
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        uid = int(fields["Uid"].split()[0])
        gids = {int(g) for g in fields["Groups"].split()}
        if uid == 0 or not 61184 <= uid <= 65519:
            raise CheckFailed(f"runs as uid {uid}, not a dynamic user (61184-65519)")
        user = self.s.sh(f"ps -o user= -p {pid}").strip()
        want = {}
        for g in ("systemd-journal", "adm"):
            want[g] = int(self.s.sh(f"getent group {g}").split(":")[2])
        missing = [g for g, gid in want.items() if gid not in gids]
        if missing:
            raise CheckFailed(f"supplementary groups {sorted(gids)} lack {missing} ({want})")
        return f"uid {uid} ({user}), groups {sorted(gids)}"

    # libdispatch logs "Failed to set thread priority for worker thread" when a worker
    # cannot take the nice value of its QoS (SystemCallFilter=~@resources: EPERM; -4 for
    # its user-interactive workers without CAP_SYS_NICE: EACCES). Checked after the start
    # and again at the end, over every start and stop of the run.
    PRIORITY_NOISE = re.compile(r"thread priority|setpriority", re.I)

    def c_priority(self) -> str:
        text = self.s.journal(unit=UNIT, since=self.start_cursor)
        bad = [l for l in text.splitlines() if self.PRIORITY_NOISE.search(l)]
        if bad:
            raise CheckFailed(f"{len(bad)} lines like: {bad[0]}")
        starts = text.count("deferwatch: following ")
        return f"{starts} start{'s' if starts != 1 else ''} of the daemon"

    def c_security(self) -> str:
        out = self.s.run("systemd-analyze", "security", "--no-pager", UNIT, check=False).stdout
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\S+)", out)
        if not m:
            raise CheckFailed(f"no exposure level in: {out[-500:]}")
        level = float(m.group(1))
        if level > 2.5:
            worst = [l for l in out.splitlines() if l.startswith("✗")][:8]
            raise CheckFailed(f"exposure {level} > 2.5: " + " | ".join(worst))
        return f"exposure {level} {m.group(2)}"

    def c_follow(self) -> str:
        before = self.s.status()
        cur = self.s.cursor()
        # Four Postfix deferrals of four messages and four Exim ones: each MTA alone is
        # enough for the shipped thresholds (4 deferrals, 2 messages, share 0.2).
        for i in range(4):
            self.postfix_deferral(f"3A2A2C{i}", f"user{i}@gmail.com")
        for i in range(4):
            self.exim_deferral(f"1vAbCd-00012{i}-Ab", f"exim{i}@gmail.com")

        def followed():
            st = self.s.status()
            return st if self._attempts(st) - self._attempts(before) >= 8 else None
        st = wait_until("the 8 deferrals in the status", followed, 20)

        def alerted():
            text = self.s.journal(ident="deferwatch", transport="syslog", since=cur)
            return [l for l in text.splitlines() if "alert=open" in l] or None
        lines = wait_until("an alert=open line in the journal through syslog", alerted, 20)
        ids = self.open_alert_ids()
        if not ids:
            raise CheckFailed("the status shows no open alert")
        if not any("cause=rate_limit" in l for l in lines):
            raise CheckFailed("no rate_limit alert: " + " | ".join(lines))
        self.alert_ids = ids
        return f"{self._attempts(st) - self._attempts(before)} attempts followed; alerts {ids}; syslog: {lines[0][:100]}..."

    @staticmethod
    def _attempts(st: dict) -> int:
        return int(st["attempts"]["total"])

    def c_reload(self) -> str:
        good = self.s.sh(f"cat {CONFIG}")
        try:
            return self._reload(good)
        finally:
            self.s.write(CONFIG, good)  # the later checks (and restarts) need it

    def _reload(self, good: str) -> str:
        pid = self.s.main_pid()
        cur = self.s.cursor()
        self.s.write(CONFIG, good + "\n[alerts.cause.no_such_cause]\nmin_deferrals = \"many\"\n")
        self.s.run("systemctl", "reload", UNIT)

        def refused():
            text = self.s.journal(unit=UNIT, since=cur)
            return text if "configuration not reloaded" in text else None
        said = wait_until("'configuration not reloaded' in the journal", refused, 15)
        if self.s.main_pid() != pid or self.s.prop("ActiveState") != "active":
            raise CheckFailed(f"after the bad reload: MainPID {self.s.main_pid()} (was {pid}), {self.s.prop('ActiveState')}")
        wait_until("the refused configuration in the status (config_error)",
                   lambda: self.s.status().get("config_error"), 10)
        shown = self.s.run("systemctl", "status", "--no-pager", "-n", "20", UNIT, check=False).stdout
        if "not reloaded" not in shown:
            raise CheckFailed("systemctl status does not show the refused reload")
        refused_line = next(l for l in said.splitlines() if "not reloaded" in l)
        # The good configuration again.
        cur = self.s.cursor()
        self.s.write(CONFIG, good)
        self.s.run("systemctl", "reload", UNIT)
        wait_until("'configuration reloaded' in the journal",
                   lambda: "configuration reloaded" in self.s.journal(unit=UNIT, since=cur), 15)
        if self.s.main_pid() != pid or self.s.prop("ActiveState") != "active":
            raise CheckFailed(f"after the good reload: MainPID {self.s.main_pid()} (was {pid})")
        wait_until("config_error gone from the status after the good reload",
                   lambda: not self.s.status().get("config_error"), 10)
        return f"MainPID {pid} kept; journal: {refused_line.strip()[:90]}"

    def c_kill9(self) -> str:
        if not self.alert_ids:
            raise CheckFailed("no open alert to keep (the follow check failed)")
        # More lines just before the kill: they may be after the last checkpoint, and must
        # then be read again and counted once.
        base = self._attempts(self.s.status())
        self.postfix_deferral("3A2A2D0", "late0@gmail.com")
        self.exim_deferral("1vAbCd-000130-Ab", "late1@gmail.com")
        wait_until("the 2 late deferrals in the status", lambda: self._attempts(self.s.status()) >= base + 2, 15)
        before, ids = self.counts(), self.open_alert_ids()
        pid = self.s.main_pid()
        self.s.run("kill", "-9", str(pid))
        new = self.wait_active(old_pid=pid)
        time.sleep(1)  # the restarted daemon reads what came after its checkpoint
        after, ids_after = self.counts(), self.open_alert_ids()
        if ids_after != ids:
            raise CheckFailed(f"open alerts {ids} before, {ids_after} after the restart")
        if after != before:
            raise CheckFailed(f"counts differ: before {json.dumps(before)}, after {json.dumps(after)}")
        return f"MainPID {pid} -> {new}; alerts {ids} kept; counts equal"

    def c_crash(self) -> str:
        env = self.s.prop("Environment")
        pid = self.s.main_pid()
        cur = self.s.cursor()
        self.s.run("kill", "-SEGV", str(pid))
        new = self.wait_active(old_pid=pid)
        text = self.s.journal(unit=UNIT, since=cur)
        # What a backtracer that cannot run leaves ("*** Signal 11: Backtracing from ...",
        # "swift-backtrace: error while loading shared libraries: ... cannot enable executable
        # stack ...", " failed ***"), or one the runtime cannot find.
        noise = [l for l in text.splitlines()
                 if re.search(r"executable stack|swift-backtrace:|failed \*\*\*|unable to (locate|launch)|swift runtime:", l, re.I)]
        crashed = "Program crashed" in text
        if noise:
            raise CheckFailed("the crash left: " + " | ".join(noise[:4]))
        off = "SWIFT_BACKTRACE=enable=no" in env
        if not crashed and not off:
            raise CheckFailed("no backtrace in the journal, and the unit does not turn the backtracer off")
        how = "the backtracer is off (SWIFT_BACKTRACE=enable=no)" if off else "a backtrace was printed"
        return f"MainPID {pid} -> {new} after SIGSEGV; {how}; no noise"

    def c_watchdog(self) -> str:
        dropin = f"{DROPIN_DIR}/test-watchdog.conf"
        self.s.write(dropin, "[Service]\nWatchdogSec=3s\n")
        try:
            return self._watchdog()
        finally:
            self.s.run("rm", "-f", dropin)
            self.s.run("systemctl", "daemon-reload")
            self.s.run("systemctl", "restart", UNIT, check=False)
            self.wait_active()

    def _watchdog(self) -> str:
        self.s.run("systemctl", "daemon-reload")
        self.s.run("systemctl", "restart", UNIT)
        pid = self.wait_active()
        if self.s.prop("WatchdogUSec") != "3s":
            raise CheckFailed(f"WatchdogUSec={self.s.prop('WatchdogUSec')} with the drop-in")
        time.sleep(4)  # it pings in time when it runs
        if self.s.main_pid() != pid:
            raise CheckFailed("restarted although it was not stopped (a missed watchdog ping?)")
        cur = self.s.cursor()
        t0 = time.monotonic()
        self.s.run("kill", "-STOP", str(pid))
        new = self.wait_active(old_pid=pid, timeout=60)
        took = time.monotonic() - t0
        said = self.s.journal(unit=UNIT, since=cur)
        if "Watchdog timeout" not in said:
            raise CheckFailed("restarted, but the journal does not say the watchdog did it")
        noise = [l for l in said.splitlines() if re.search(r"executable stack|swift-backtrace", l, re.I)]
        if noise:
            raise CheckFailed("the watchdog's SIGABRT left: " + " | ".join(noise[:4]))
        return f"SIGSTOP at MainPID {pid}: watchdog restart to {new} in {took:.1f} s (drop-in WatchdogSec=3s, removed)"

    def c_metrics(self) -> str:
        good = self.s.sh(f"cat {CONFIG}")
        with_port, n = re.subn(r"(?m)^metrics_port = 0\b", f"metrics_port = {METRICS_PORT}", good)
        if n != 1:
            raise CheckFailed("the shipped configuration has no `metrics_port = 0` line to change")
        self.s.write(CONFIG, with_port)
        try:
            return self._metrics()
        finally:
            self.s.write(CONFIG, good)
            self.s.run("systemctl", "restart", UNIT, check=False)
            self.wait_active()

    def _metrics(self) -> str:
        self.s.run("systemctl", "restart", UNIT)
        self.wait_active()
        body = wait_until(f"127.0.0.1:{METRICS_PORT}/metrics",
                          lambda: self.s.run("curl", "-sf", "--max-time", "3", f"http://127.0.0.1:{METRICS_PORT}/metrics").stdout,
                          10)
        if "deferwatch_lines_total" not in body:
            raise CheckFailed(f"/metrics has no deferwatch_lines_total: {body[:300]}")
        # That listener serves nothing else.
        other = self.s.run("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "3",
                           f"http://127.0.0.1:{METRICS_PORT}/v1/status", check=False).stdout
        if other == "200":
            raise CheckFailed("the TCP listener answers /v1/status too")
        return f"{len(body.splitlines())} lines of metrics on 127.0.0.1:{METRICS_PORT}; /v1/status there: {other}"

    def c_purge(self) -> str:
        self.s.run("dpkg", "-P", "deferwatch", timeout=120)
        state = self.s.prop("LoadState")
        active = self.s.prop("ActiveState")
        if active not in ("inactive", "failed") or state not in ("not-found", "masked"):
            raise CheckFailed(f"after dpkg -P: LoadState={state} ActiveState={active}")
        left = self.s.sh("ls -d /var/lib/private/deferwatch /var/cache/private/deferwatch /var/lib/deferwatch "
                         "/etc/deferwatch 2>/dev/null || true").split()
        if left:
            raise CheckFailed(f"left after purge: {left}")
        return f"LoadState={state}, ActiveState={active}; state removed"

    def main(self) -> int:
        if not self.check("install: dpkg -i starts the unit", self.c_install):
            return 1
        steps = [
            ("active: Type=notify, dynamic user, groups systemd-journal and adm", self.c_active),
            ("priority: no thread priority failures after the start", self.c_priority),
            ("security: systemd-analyze security <= 2.5", self.c_security),
            ("follow: postfix and exim lines from the journal, an alert to syslog", self.c_follow),
            ("reload: a bad configuration refused, a good one taken", self.c_reload),
            ("kill -9: restarted, alerts kept, nothing counted twice", self.c_kill9),
            ("crash: SIGSEGV restarts, no backtracer noise", self.c_crash),
            ("watchdog: SIGSTOP restarts it", self.c_watchdog),
            ("metrics: the TCP listener on 127.0.0.1", self.c_metrics),
            ("priority, all run: no thread priority failures at any start or stop", self.c_priority),
            ("purge: dpkg -P stops and removes it", self.c_purge),
        ]
        for name, fn in steps:
            self.check(name, fn)
        failed = [n for n, ok, _ in self.results if not ok]
        print(f"Tests/Systemd: {len(self.results) - len(failed)} of {len(self.results)} checks passed"
              + (f"; failed: {', '.join(n.split(':')[0] for n in failed)}" if failed else ""))
        return 1 if failed else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--deb", required=True, help="the package built by scripts/package")
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not args.inner:
        return outer(args)
    if not os.environ.get("SBX") or not os.environ.get("SBX_PID"):
        print("Tests/Systemd: --inner runs only under systemd-sandbox run", file=sys.stderr)
        return 2
    return Run(args.deb).main()


if __name__ == "__main__":
    sys.exit(main())
