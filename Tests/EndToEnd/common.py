"""Helpers shared by run.py and live.py: logging, commands, times."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import time
from pathlib import Path

WORK = Path("/tmp/dw-e2e")  # the harness's scratch directory (pid files, copies, sockets)

T0 = time.monotonic()


def log(msg: str) -> None:
    print(f"[{time.monotonic() - T0:7.1f}s] {msg}", flush=True)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def parse_time(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


class HarnessError(Exception):
    """The harness could not do its job (not a deferwatch failure): exit 2."""


def sh(cmd: list[str], *, check: bool = True, input: bytes | None = None,
       env: dict | None = None, timeout: float = 600, quiet: bool = False,
       capture: bool = True) -> subprocess.CompletedProcess:
    if not quiet:
        log("$ " + " ".join(cmd))
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    try:
        cp = subprocess.run(cmd, input=input, env=full_env, timeout=timeout,
                            stdout=subprocess.PIPE if capture else None,
                            stderr=subprocess.PIPE if capture else None)
    except FileNotFoundError as e:
        raise HarnessError(f"{cmd[0]}: not found ({e})")
    except subprocess.TimeoutExpired:
        raise HarnessError(f"{' '.join(cmd)}: still running after {timeout:.0f}s")
    if check and cp.returncode != 0:
        out = (cp.stdout or b"").decode(errors="replace")[-3000:]
        err = (cp.stderr or b"").decode(errors="replace")[-3000:]
        raise HarnessError(f"{' '.join(cmd)} exited {cp.returncode}\n{out}{err}")
    return cp


def short(s: str | None, n: int = 110) -> str:
    s = (s or "").replace("\n", "\\n")
    return s if len(s) <= n else s[:n - 1] + "…"


def fmt_time(s: str | None) -> str:
    if not s:
        return "--:--:--"
    try:
        return parse_time(s).strftime("%H:%M:%S")
    except ValueError:
        return s[11:19]


def stop_process(proc: subprocess.Popen, timeout: float) -> bool:
    """SIGTERM, then SIGKILL after `timeout` seconds; returns True when it had to kill."""
    if proc.poll() is not None:
        return False
    proc.terminate()
    try:
        proc.wait(timeout)
        return False
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return True
