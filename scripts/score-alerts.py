#!/usr/bin/env python3
"""Scores `deferwatch analyze --alerts --json` against a genlog ground truth.

    score-alerts.py TRUTH.json ALERTS.jsonl [--json] [--min-deferrals 20]

An episode is "clear" when it wrote at least --min-deferrals deferrals inside the file and
its cause is not greylisting. An alert matches an episode when it has the episode's cause,
opens between the episode's start and its end (plus --grace seconds), and names the
episode's destination or a part of it: the provider for a provider episode (a domain or
relay of that provider also matches, for precision), the domain or one of its MX hosts for a
domain episode.

- recall: clear episodes with a matching alert at the episode's own level (a provider-wide
  episode needs a provider alert) / clear episodes;
- precision: opened alerts that match some episode (clear or not) / opened alerts;
- delay: alert open time - the episode's first deferral, for the recalled episodes;
- resolved: recalled episodes whose alert resolved after the episode's end (or that were
  still open when the file ended, for episodes that end after it).
"""
import argparse
import json
import statistics
import sys
from datetime import datetime


def epoch(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("truth")
    ap.add_argument("alerts")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--min-deferrals", type=int, default=20)
    ap.add_argument("--grace", type=int, default=900)
    ap.add_argument("--resolve-within", type=int, default=1800,
                    help="an episode that ends less than this before the file does may still be open at the end")
    ap.add_argument("--slow", type=int, default=600, help="list detections slower than this many seconds")
    a = ap.parse_args()

    truth = json.load(open(a.truth))
    episodes = truth["episodes"]
    transitions = [json.loads(l) for l in open(a.alerts) if l.strip()]
    opens = [t for t in transitions if t["state"] == "open" and not t.get("end_of_input")]
    resolves = {t["id"]: t for t in transitions if t["state"] == "resolve"}
    still_open = {t["id"] for t in transitions if t.get("end_of_input")}

    def names(ep, al, strict):
        if al["cause"] != ep["cause"]:
            return False
        if ep["destination_type"] == "provider":
            if al["scope"] == "provider":
                return al["provider"] == ep["provider"]
            # A provider with a single domain in use: the domain is the narrowest key.
            if al["scope"] == "domain" and len(ep["domains"]) == 1 and al["domain"] == ep["domains"][0]:
                return True
            if strict:
                return False
            return al["provider"] == ep["provider"] or al.get("domain") in ep["domains"] or al.get("relay") in ep["mx_hosts"]
        if al["scope"] == "domain":
            return al["domain"] == ep["destination"]
        if al["scope"] == "relay":
            return al["relay"] in ep["mx_hosts"] or al["key"] in ep["mx_hosts"]
        return False

    def in_time(ep, al):
        t = epoch(al["time"])
        return ep["start_epoch"] - 60 <= t <= ep["end_epoch"] + a.grace

    clear = [e for e in episodes
             if e["within_file"] and e["deferrals"] >= a.min_deferrals and e["cause"] != "greylisting"]
    file_end = truth["end_epoch"]
    recalled, missed, delays, resolved_ok, resolved_bad, slow, resolve_lags = [], [], [], 0, [], [], []
    for ep in clear:
        m = [al for al in opens if names(ep, al, True) and in_time(ep, al)]
        if not m:
            missed.append(ep)
            continue
        al = min(m, key=lambda x: epoch(x["time"]))
        recalled.append(ep)
        first = ep["first_deferral"]["time"] if ep.get("first_deferral") else ep["start"]
        delay = epoch(al["time"]) - epoch(first)
        delays.append(delay)
        if delay > a.slow:
            slow.append((ep["id"], ep["destination"], ep["cause"], ep["deferrals"], round(delay)))
        r = resolves.get(al["id"])
        if r is not None and r.get("absorbed_by") is None:
            if epoch(r["time"]) >= ep["end_epoch"] - 60:
                resolved_ok += 1
                resolve_lags.append(epoch(r["time"]) - ep["end_epoch"])
            else:
                resolved_bad.append((ep["id"], al["id"], "resolved before the episode ended"))
        elif al["id"] in still_open and (not ep["ends_within_file"] or file_end - ep["end_epoch"] < a.resolve_within):
            resolved_ok += 1
        elif al["id"] in still_open:
            resolved_bad.append((ep["id"], al["id"], "still open at the end of the file"))
        else:
            resolved_ok += 1  # absorbed into a wider alert

    false_pos = [al for al in opens if not any(names(ep, al, False) and in_time(ep, al) for ep in episodes)]
    out = {
        "episodes": len(episodes),
        "clear_episodes": len(clear),
        "recalled": len(recalled),
        "recall": len(recalled) / len(clear) if clear else 1.0,
        "alerts_opened": len(opens),
        "false_positives": len(false_pos),
        "precision": (len(opens) - len(false_pos)) / len(opens) if opens else 1.0,
        "delay_median_s": statistics.median(delays) if delays else None,
        "delay_max_s": max(delays) if delays else None,
        "resolved_after_end": resolved_ok,
        "resolve_problems": resolved_bad,
        "resolve_lag_median_s": statistics.median(resolve_lags) if resolve_lags else None,
        "slow_detections": slow,
        "missed": [{k: e[k] for k in ("id", "destination", "cause", "deferrals", "start", "end", "intensity")} for e in missed],
        "false_positive_alerts": [{k: al.get(k) for k in ("id", "time", "cause", "scope", "key", "host", "deferrals", "attempts", "sample")} for al in false_pos],
    }
    if a.json:
        print(json.dumps(out))
    else:
        print(f"clear episodes {out['clear_episodes']}, recalled {out['recalled']} "
              f"(recall {out['recall']:.3f}); alerts {out['alerts_opened']}, false {out['false_positives']} "
              f"(precision {out['precision']:.3f}); delay median {out['delay_median_s']} s, max {out['delay_max_s']} s; "
              f"resolved after end {resolved_ok}/{len(recalled)} (lag median {out['resolve_lag_median_s']} s)")
        for x in slow:
            print("  slow:", x)
        for m in out["missed"]:
            print("  missed:", m)
        for f in out["false_positive_alerts"]:
            print("  false:", f)
        for r in resolved_bad:
            print("  resolve:", r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
