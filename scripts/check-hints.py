#!/usr/bin/env python3
"""check-hints.py - development check of Config/hints.toml (the operator hints of alerts).

Standard library only (Python 3.11+ for tomllib). It checks that the file

  - parses, has version = 1 and only the top-level keys version and hint;
  - gives every [[hint]] only the keys cause, mta, provider and text, with cause one of the
    15 causes, mta one of postfix, exim, any, and provider (when given) a provider that
    Config/rules.toml defines;
  - has no two hints for the same (cause, mta, provider) triple;
  - lists a provider's postfix and exim hints for a cause before its "any" hint for that
    cause (built-in file only: the loader takes the first provider hint whose mta is the
    alert's or "any");
  - keeps every text to one line of printable ASCII, at most 300 characters, with no
    double quote or backslash (texts go into one syslog line as hint="..."), no URL
    (deferwatch appends " See <postmaster URL>." itself) and a final full stop;
  - covers the vocabulary (built-in file only): every cause has an "any" hint, a postfix
    hint and an exim hint without a provider; a provider that has a postfix or exim hint
    for a cause also has the other one and an "any" one for it, so an alert on that
    provider gets that provider's advice whichever MTA (or a mix) logged the deferrals.

With --user the coverage and order checks are skipped: a user's hints file overrides some
hints of the built-in one by giving the same (cause, mta, provider) triple, need not cover
all, and is merged by the loader, which decides where its new hints stand.

Exit status 0 when all is well, 1 on any problem.

usage: scripts/check-hints.py [--hints FILE] [--rules FILE] [--user] [-v]
"""

import argparse
import os
import sys
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The classifier's output vocabulary (shared/DESIGN.md, "Deferral causes").
CAUSES = ["rate_limit", "connection_limit", "reputation", "content", "authentication",
          "reverse_dns", "greylisting", "service_unavailable", "protocol_errors", "timeout",
          "connection_failure", "dns_failure", "tls", "mailbox", "other"]
MTAS = ["postfix", "exim", "any"]
HINT_KEYS = {"cause", "mta", "provider", "text"}
MAX_TEXT = 300
MIN_TEXT = 40

# Causes whose advice is the same for Postfix and Exim, so that only an "any" hint is
# required. Empty: for every cause the MTA-specific hint names that MTA's own parameters
# and queue commands.
MTA_NEUTRAL = set()

problems = []


def problem(msg):
    problems.append(msg)


def provider_names(rules_path):
    with open(rules_path, "rb") as f:
        data = tomllib.load(f)
    return {p.get("name") for p in data.get("provider", [])}


def check_text(where, text):
    if not isinstance(text, str):
        problem(f"{where}: text must be a string")
        return
    if len(text) > MAX_TEXT:
        problem(f"{where}: text has {len(text)} characters, at most {MAX_TEXT}")
    if len(text) < MIN_TEXT:
        problem(f"{where}: text has {len(text)} characters, too short to help (at least {MIN_TEXT})")
    bad = sorted({c for c in text if not (" " <= c <= "~")})
    if bad:
        problem(f"{where}: text has characters other than printable ASCII: {bad!r}")
    if '"' in text or "\\" in text:
        problem(f"{where}: text has a double quote or backslash (it is quoted in hint=\"...\")")
    if text != text.strip() or "  " in text:
        problem(f"{where}: text has leading, trailing or doubled blanks")
    low = text.lower()
    if "://" in low or "www." in low or "http" in low:
        problem(f"{where}: text has a URL; deferwatch appends the provider's postmaster URL itself")
    if not text.endswith("."):
        problem(f"{where}: text must end with a full stop (' See <URL>.' is appended to it)")


def check(hints_path, rules_path, user, verbose):
    with open(hints_path, "rb") as f:
        data = tomllib.load(f)
    providers = provider_names(rules_path)
    for k in data:
        if k not in ("version", "hint"):
            problem(f"unknown top-level key {k!r}")
    if data.get("version") != 1:
        problem(f"version must be 1, is {data.get('version')!r}")
    hints = data.get("hint", [])
    if not isinstance(hints, list):
        problem("hint must be an array of tables ([[hint]])")
        hints = []

    seen = {}
    texts = {}
    for i, h in enumerate(hints):
        if not isinstance(h, dict):
            problem(f"hint #{i + 1}: not a table")
            continue
        cause, mta, prov = h.get("cause"), h.get("mta"), h.get("provider")
        where = f"hint #{i + 1} ({cause}, {mta}, {prov or '-'})"
        for k in h:
            if k not in HINT_KEYS:
                problem(f"{where}: unknown key {k!r}")
        if cause not in CAUSES:
            problem(f"{where}: unknown cause {cause!r}")
        if mta not in MTAS:
            problem(f"{where}: mta must be one of {', '.join(MTAS)}, is {mta!r}")
        if "provider" in h and (not isinstance(prov, str) or prov not in providers):
            problem(f"{where}: provider {prov!r} is not defined in {os.path.relpath(rules_path, ROOT)}")
        if "text" not in h:
            problem(f"{where}: no text")
        else:
            check_text(where, h["text"])
            t = h["text"]
            if isinstance(t, str):
                if t in texts:
                    problem(f"{where}: same text as {texts[t]}")
                texts.setdefault(t, where)
        key = (cause, mta, prov)
        if not user and prov is not None and mta in ("postfix", "exim") and (cause, "any", prov) in seen:
            problem(f"{where}: comes after {seen[(cause, 'any', prov)]}; list a provider's "
                    f"MTA-specific hints before its 'any' hint, or the 'any' hint shadows them")
        if key in seen:
            problem(f"{where}: same (cause, mta, provider) as {seen[key]}")
        seen.setdefault(key, where)
        if verbose and isinstance(h.get("text"), str):
            print(f"  {cause:<20} {mta:<8} {prov or '-':<16} {len(h['text']):3d}  {h['text'][:70]}")

    if not user:
        for c in CAUSES:
            for m in (["any"] if c in MTA_NEUTRAL else MTAS):
                if (c, m, None) not in seen:
                    problem(f"cause {c}: no {m!r} hint without a provider")
        for (c, m, p) in list(seen):
            if p is None or m == "any":
                continue
            for m2 in MTAS:
                if (c, m2, p) not in seen:
                    problem(f"provider {p}, cause {c}: has an {m!r} hint but no {m2!r} one")

    by_cause = {}
    for (c, m, p) in seen:
        by_cause.setdefault(c, []).append((m, p))
    return len(hints), by_cause


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hints", default=os.path.join(ROOT, "Config", "hints.toml"))
    ap.add_argument("--rules", default=os.path.join(ROOT, "Config", "rules.toml"),
                    help="the rules file whose providers hints may name")
    ap.add_argument("--user", action="store_true",
                    help="a user's override file: skip the coverage checks")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()

    try:
        n, by_cause = check(a.hints, a.rules, a.user, a.verbose)
    except (OSError, tomllib.TOMLDecodeError) as e:
        print(f"check-hints: {e}", file=sys.stderr)
        return 1
    print(f"hints: {n} hints for {len(by_cause)} causes")
    if a.verbose:
        for c in CAUSES:
            entries = by_cause.get(c, [])
            provs = sorted({p for (_m, p) in entries if p})
            mtas = sorted({m for (m, p) in entries if not p})
            print(f"  {c:<20} generic: {', '.join(mtas) or '-':<18} providers: {', '.join(provs) or '-'}")
    if problems:
        print(f"\n{len(problems)} problem(s):")
        for p in problems:
            print("  " + p)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
