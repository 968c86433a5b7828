#!/usr/bin/env python3
"""The cost of a line with many alerts open (issue 13, item 9): `deferwatch analyze --alerts
--threads 1` on logs where every destination opens an alert and stays deferring.

    Benchmarks/open_alerts.py [--binary PATH] [--rounds 3] [--quick] [--write]

Each workload is generated here (every destination its own domain and MX, no provider; one
deferral per destination per round, in turn, at a steady log rate). A second run with twice
the rounds sends as many lines again to destinations whose alerts are open; the difference
of the two runs' user CPU, divided by the extra lines, is what a line costs that changes no
alert. Best of `--rounds` runs each. --write puts the table into BENCHMARKS.md."""

import argparse
import os
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as bl  # noqa: E402

T0 = datetime(2026, 11, 30, tzinfo=timezone.utc)


# The reply of every destination (service_unavailable); in the control case the first 100
# destinations answer with a connection limit instead, and only that cause may alert.
TRY_LATER = "421 4.7.0 Try again later, closing connection."
CONN_LIMIT = "421 4.7.0 Too many concurrent SMTP connections from this IP address; please try again later."


def generate(path, destinations, rounds, rate, alerting=None):
    """`rounds` deferrals for each of `destinations` domains, at `rate` lines a second; with
    `alerting`, only the first `alerting` destinations get the reply that may alert."""
    with open(path, "w") as out:
        i = 0
        for r in range(rounds):
            for d in range(destinations):
                t = (T0 + timedelta(seconds=i / rate)).strftime("%Y-%m-%dT%H:%M:%S.%f")
                dom, ip = f"d{d}.example", f"192.0.2.{d % 250}"
                reply = CONN_LIMIT if alerting is not None and d < alerting else TRY_LATER
                out.write(f"{t}+00:00 mx1 postfix/smtp[1]: {i:010X}: to=<u{r % 2}@{dom}>, relay=mx.{dom}[{ip}]:25, "
                          f"delay=1, delays=0/0/0/1, dsn=4.7.0, status=deferred (host mx.{dom}[{ip}] said: "
                          f"{reply} (in reply to end of DATA command))\n")
                i += 1


def measure(binary, config, log, rounds):
    """Best user CPU (s) and peak RSS (MB) of `rounds` runs; the open alerts at the end."""
    best, rss, opened = None, 0.0, 0
    for _ in range(rounds):
        r = subprocess.run(["/usr/bin/time", "-f", "%U %M", binary, "analyze", "--alerts", "--threads", "1",
                            "--config", config, log], capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"open_alerts: {binary} failed: {r.stderr[-800:]}")
        user, kb = r.stderr.strip().splitlines()[-1].split()
        best = float(user) if best is None else min(best, float(user))
        rss = max(rss, int(kb) / 1024)
        opened = sum(1 for line in r.stdout.splitlines() if " alert=open " in line and " end_of_input=" in line)
    return best, rss, opened


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=str(bl.ROOT / ".build/release/deferwatch"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="a tenth of the destinations and lines")
    ap.add_argument("--write", action="store_true")
    a = ap.parse_args()
    scale = 10 if a.quick else 1
    # 400 lines/s: a minute of log time is 24,000 lines, so a step that walks the open
    # alerts once a minute shows in the cost of a line.
    rate = 400
    many = 100_000 // scale
    # (name, destinations, rounds, destinations that may alert: None for all). The control
    # tracks as many destinations as the large case but has only 100 alerts open: what the
    # large case costs beyond it is the open alerts' own cost, the rest is the tracking of
    # many destinations (issue 18).
    cases = [("small", 100, 4000 // scale, None), ("large", many, 4, None), ("control", many, 4, 100)]
    rows = []
    with tempfile.TemporaryDirectory(prefix="deferwatch-bench-alerts-") as tmp:
        config = f"{tmp}/deferwatch.toml"
        Path(config).write_text("[alerts]\nmax_open_alerts = 1000000\nmax_tracked_keys = 1000000\n")
        control = f"{tmp}/control.toml"
        Path(control).write_text("[alerts]\nmax_open_alerts = 1000000\nmax_tracked_keys = 1000000\n"
                                 "[alerts.cause.service_unavailable]\nenabled = true\nmin_deferrals = 1000000\n")
        per_line, first_run = {}, {}
        for name, dests, rounds, alerting in cases:
            first, second = f"{tmp}/a.log", f"{tmp}/b.log"
            generate(first, dests, rounds, rate, alerting)
            generate(second, dests, 2 * rounds, rate, alerting)
            lines = dests * rounds
            conf = control if alerting is not None else config
            u1, m1, o1 = measure(a.binary, conf, first, a.rounds)
            u2, m2, o2 = measure(a.binary, conf, second, a.rounds)
            os.unlink(first)
            os.unlink(second)
            cost = (u2 - u1) / lines * 1e6
            per_line[name] = cost
            first_run[name] = u1
            rows.append([f"{dests:,} destinations, {lines:,} deferrals ({o1:,} alerts open)", f"{lines:,}", f"{u1:.2f} s", f"{m1:.0f} MB"])
            rows.append([f"the same, then {lines:,} more to the same destinations ({o2:,} open)", f"{2 * lines:,}", f"{u2:.2f} s", f"{m2:.0f} MB"])
            rows.append([f"**a line that changes no alert, {dests:,} destinations, {o2:,} open**", "", f"**{cost:.1f} us**", ""])
    small, large, ctl = per_line["small"], per_line["large"], per_line["control"]
    u_large, u_ctl = first_run["large"], first_run["control"]
    info = bl.binary_info(a.binary)
    text = f"""## Open alerts (issue 13)

Measured {bl.now_utc()} with {info}, by `Benchmarks/open_alerts.py{' --quick' if a.quick else ''}`:
`analyze --alerts --threads 1`, best user CPU of {a.rounds} runs, with `max_open_alerts` and
`max_tracked_keys` raised to 1,000,000 so that every destination keeps an alert of its own.
Every destination is its own domain and MX; each gets one deferral per round, in turn, at
{rate} lines/s of log time. The second run of each pair sends as many lines again to the
same destinations while their alerts are open: the difference is the cost of a line that
changes no alert. In the control, only the first 100 destinations get a reply whose cause
may alert (a connection limit); the others' cause (service_unavailable) has its
`min_deferrals` out of reach, so they are tracked exactly as the others but never alert.

{bl.md_table(["workload", "lines", "user CPU", "peak RSS"], rows, ["l", "r", "r", "r"])}

With {many:,} alerts open a line costs {large / small:.1f} times what it costs with
100 destinations and 100 alerts open, and {large / ctl:.2f} times what it costs with
{many:,} destinations tracked and 100 alerts open (the control: the other destinations'
cause may not alert). The open alerts themselves add {large - ctl:+.1f} us a line; the rest
is the tracking of many destinations, which no cache holds. No step walks the open alerts
per line, nor (since the due queue) once a minute of log time. Opening the alerts is
linear too: the first run of the large case costs {u_large - u_ctl:.1f} s more than the
control's for {many - 100:,} more alerts opened ({(u_large - u_ctl) / (many - 100) * 1e6:.0f} us each, the alert line
written included). The shipped cap,
`max_open_alerts = 1000`, keeps the daemon far from that: past it a storm is one alert of
scope `all` per cause.

History: before a10eb57, opening an alert walked every open alert (10,000 alerts: 398.6 s,
then 9.6 s, debug build); before 21a4ef4, the periodic check sorted and copied every open
alert once a minute of log time (100,000 open at 400 lines/s: 23.6 us a line, then 11.4 us).

With the shipped `max_tracked_keys` (50,000), a storm of 100,000 destinations with 4
deferrals each used to raise nothing at all: their windows were dropped before they
filled. Since f91a9a9, while windows are being dropped, 1,000 distinct destinations
deferring for one cause (at the cause's usual share of all attempts) are the storm's `all`
alert: on that workload it opened 38 s into the storm and held 100,000 destinations at the
end (debug build, 134 MB peak RSS; measured by hand, not by this script).
"""
    print(text)
    if a.write:
        bl.update_benchmarks_md("alerts", text)


if __name__ == "__main__":
    main()
