#!/usr/bin/env python3
"""check-rules.py - development check of Config/rules.toml and its fixtures.

Standard library only (Python 3.11+ for tomllib). It

  1. loads Config/rules.toml and checks it: ids unique and well-formed, causes known,
     providers named by rules exist, every rule has a matcher, needles non-empty and
     lower-case, enhanced codes well-formed;
  2. classifies every annotated line of Tests/DeferWatchCoreTests/Fixtures/rules.fixtures
     the way the Swift engine does (Postfix/Exim line -> text, code, dsn, provider; rules in
     order, first match wins; inheritance for lines that carry no reason) and reports every
     fixture whose expectation differs, and every rule no fixture hits;
  3. classifies every deferral text the benchmark generator (shared/bench/genlog.py) can
     write, for every provider, and checks it gets genlog's intended cause; then runs genlog
     on scripted episodes (one per cause and destination) and checks every deferral line.

Exit status 0 when all is well, 1 on any problem. This is a development aid that mirrors
the Swift classifier closely enough to catch rule mistakes; the Swift tests are the truth.

usage: scripts/check-rules.py [--rules FILE] [--fixtures FILE] [--genlog FILE]
                              [--no-genlog-run] [--corpus DIR] [-v]
"""

import argparse
import ast
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import textwrap
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAUSES = ["rate_limit", "connection_limit", "reputation", "content", "authentication",
          "reverse_dns", "greylisting", "service_unavailable", "protocol_errors", "timeout",
          "connection_failure", "dns_failure", "tls", "mailbox", "other"]
RULE_KEYS = {"id", "cause", "provider", "codes", "dsn", "contains", "contains_any", "note", "enabled"}
PROVIDER_KEYS = {"name", "title", "postmaster", "relays", "domains"}
ANNOTATION_KEYS = {"status", "cause", "provider", "rule", "domain", "recipient", "relay",
                   "relay_ip", "code", "dsn", "stage", "inherited", "mta"}

problems = []


def problem(msg):
    problems.append(msg)


# ---------------------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------------------

def valid_dsn(d):
    parts = d.split(".")
    if not 2 <= len(parts) <= 3 or parts[0] not in ("2", "4", "5"):
        return False
    for i, p in enumerate(parts[1:], 1):
        if p == "*" and i == len(parts) - 1:
            continue
        if not p or len(p) > 3 or not p.isdigit():
            return False
    return len(parts) == 3 or parts[-1] == "*"


class Rules:
    def __init__(self, path):
        with open(path, "rb") as f:
            data = tomllib.load(f)
        self.path = path
        for k in data:
            if k not in ("version", "provider", "rule"):
                problem(f"rules: unknown top-level key {k!r}")
        if data.get("version") != 1:
            problem(f"rules: version must be 1, is {data.get('version')!r}")
        self.providers = data.get("provider", [])
        self.rules = data.get("rule", [])
        names = set()
        self.relay_suffix = {}
        self.domain_of = {}
        for p in self.providers:
            for k in p:
                if k not in PROVIDER_KEYS:
                    problem(f"provider {p.get('name')!r}: unknown key {k!r}")
            n = p.get("name", "")
            if not re.fullmatch(r"[a-z0-9-]+", n):
                problem(f"provider name {n!r} is not lower-case [a-z0-9-]")
            if n in names:
                problem(f"provider {n!r} defined twice")
            names.add(n)
            for r in p.get("relays", []):
                r = r.lower().lstrip(".")
                if r in self.relay_suffix:
                    problem(f"relay suffix {r!r} in providers {self.relay_suffix[r]!r} and {n!r}")
                self.relay_suffix[r] = n
            for d in p.get("domains", []):
                d = d.lower()
                if d in self.domain_of:
                    problem(f"domain {d!r} in providers {self.domain_of[d]!r} and {n!r}")
                self.domain_of[d] = n
        self.provider_names = names
        ids = set()
        for i, r in enumerate(self.rules):
            rid = r.get("id", "")
            where = f"rule #{i + 1} {rid!r}"
            for k in r:
                if k not in RULE_KEYS:
                    problem(f"{where}: unknown key {k!r}")
            if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rid):
                problem(f"{where}: id must be lower-case letters and digits joined by '-'")
            if rid in ids:
                problem(f"{where}: duplicate id")
            ids.add(rid)
            if r.get("cause") not in CAUSES:
                problem(f"{where}: unknown cause {r.get('cause')!r}")
            if "provider" in r and r["provider"] not in names:
                problem(f"{where}: unknown provider {r['provider']!r}")
            if not any(r.get(k) for k in ("codes", "dsn", "contains", "contains_any")):
                problem(f"{where}: no matcher (codes, dsn, contains, contains_any)")
            for c in r.get("codes", []):
                if not isinstance(c, int) or not 400 <= c <= 599:
                    problem(f"{where}: reply code {c!r} is not a 4xx/5xx integer")
            for d in r.get("dsn", []):
                if not valid_dsn(d):
                    problem(f"{where}: bad enhanced code {d!r}")
            for n in r.get("contains", []) + r.get("contains_any", []):
                if not isinstance(n, str) or not n:
                    problem(f"{where}: empty needle")
                elif n != n.lower():
                    problem(f"{where}: needle {n!r} is not lower-case")
                elif n != n.strip():
                    problem(f"{where}: needle {n!r} has leading/trailing blanks")
                elif not n.isascii():
                    problem(f"{where}: needle {n!r} is not ASCII")
            if not r.get("note"):
                problem(f"{where}: no note")
            if r.get("enabled", True) is not True:
                problem(f"{where}: built-in rules are not disabled, delete them instead")

    def provider(self, relay, domain):
        if relay:
            s = relay.lower()
            while True:
                if s in self.relay_suffix:
                    return self.relay_suffix[s]
                if "." not in s:
                    break
                s = s.split(".", 1)[1]
        if domain and domain.lower() in self.domain_of:
            return self.domain_of[domain.lower()]
        return None

    def classify(self, text, code, dsn, provider):
        """-> (cause, rule id or None)"""
        low = text.lower()
        for r in self.rules:
            if "provider" in r and r["provider"] != provider:
                continue
            if r.get("codes") and code not in r["codes"]:
                continue
            if r.get("dsn"):
                if dsn is None:
                    continue
                ok = False
                for d in r["dsn"]:
                    if d.endswith("*"):
                        ok = dsn.startswith(d[:-1])
                    else:
                        ok = dsn == d
                    if ok:
                        break
                if not ok:
                    continue
            if any(n not in low for n in r.get("contains", [])):
                continue
            if r.get("contains_any") and not any(n in low for n in r["contains_any"]):
                continue
            return r["cause"], r["id"]
        return "other", None


# ---------------------------------------------------------------------------------------
# Log lines -> delivery events (mirrors Sources/DeferWatchCore/Parsing)
# ---------------------------------------------------------------------------------------

def code_at(text, c):
    m = re.match(r"([2-5]\d\d)(?=$|[ -])", text[c:])
    if not m:
        return None
    code = int(m.group(1))
    return code, enhanced_code(text, c + 4)


def enhanced_code(text, i):
    m = re.match(r"([245])\.(\d{1,3})\.(\d{1,3})(?=$|[ ,;)\]])", text[i:])
    return m.group(0) if m else None


def reply_in(text):
    """Exim: the first reply code that follows ': '."""
    i = 0
    while True:
        c = text.find(": ", i)
        if c < 0:
            return None
        r = code_at(text, c + 2)
        if r:
            return r
        i = c + 1


def stage_of(text):
    i = text.find("in reply to ")
    if i >= 0:
        rest = text[i + 12:]
        for p, s in (("RCPT", "rcpt"), ("end of DATA", "end-of-data"), ("DATA", "data"), ("MAIL", "mail"),
                     ("EHLO", "helo"), ("HELO", "helo"), ("LHLO", "helo"), ("STARTTLS", "helo"),
                     ("message body", "data")):
            if rest.startswith(p):
                return s
    if "refused to talk to me" in text:
        return "greeting"
    if "initial server greeting" in text or "initial connection" in text:
        return "greeting"
    i = text.find("while sending ")
    if i >= 0:
        rest = text[i + 14:]
        for p, s in (("RCPT", "rcpt"), ("MAIL", "mail"), ("end of data", "end-of-data"),
                     ("message body", "data"), ("DATA", "data")):
            if rest.startswith(p):
                return s
    if "while performing the EHLO" in text or "while performing the HELO" in text:
        return "helo"
    i = text.find("after ")
    if i >= 0:
        rest = text[i + 6:]
        if rest.startswith("pipelined "):
            rest = rest[10:]
        for p, s in (("RCPT", "rcpt"), ("MAIL", "mail"), ("end of data", "end-of-data"), ("DATA", "data"),
                     ("sending data block", "data"), ("EHLO", "helo"), ("HELO", "helo"), ("LHLO", "helo"),
                     ("STARTTLS", "helo"), ("initial connection", "greeting"), ("greeting", "greeting")):
            if rest.startswith(p):
                return s
    if "in response to pipelined RCPT" in text:
        return "rcpt"
    if text.startswith(("connect to ", "Connection refused", "Connection timed out", "No route to host",
                        "Network is unreachable")):
        return "connect"
    return None


def host_ip(text, i):
    """'host[ip]' at i."""
    o = text.find("[", i)
    if o < 0:
        return None
    c = text.find("]", o)
    if c < 0 or " " in text[i:o]:
        return None
    return text[i:o], text[o + 1:c], c + 1


def exim_host_ip(text, i):
    """'host [ip]' at i."""
    sp = text.find(" ", i)
    if sp >= 0 and sp + 1 < len(text) and text[sp + 1] == "[":
        c = text.find("]", sp + 1)
        if c >= 0:
            return text[i:sp], text[sp + 2:c], c + 1
    if i < len(text) and text[i] == "[":
        c = text.find("]", i)
        if c >= 0:
            return text[i + 1:c], text[i + 1:c], c + 1
    return None


def domain_of(addr):
    if not addr or "@" not in addr:
        return None
    d = addr.rsplit("@", 1)[1]
    return d.lower() or None


PF_RE = re.compile(r"(?:^|\s)([\w.-]+(?:/[\w.-]+)*)\[\d+\]: ([0-9A-Za-z]+): (.*)$")
PF_SERVICES = {"smtp", "lmtp", "error", "retry", "qmgr", "local", "virtual", "pipe", "discard"}
EX_RE = re.compile(r"(?:^|\s)([0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-[0-9A-Za-z]{2,4}) (==|\*\*|=>|->|>>) (.*)$")


def parse_line(line):
    """-> event dict or None (not a delivery line)."""
    m = PF_RE.search(line)
    if m and (m.group(1).startswith("postfix") or m.group(1).rsplit("/", 1)[-1] in PF_SERVICES):
        return parse_postfix(m.group(2), m.group(3))
    m = EX_RE.search(line)
    if m:
        return parse_exim(m.group(1), m.group(2), m.group(3))
    return None


def parse_postfix(qid, m):
    st = re.search(r", status=(\w+)", m)
    if not st or st.group(1) not in ("sent", "deferred", "bounced", "expired"):
        return None
    status = st.group(1)
    fields = m[:st.start()]
    rest = m[st.end():]
    recipient = None
    if fields.startswith("to=<"):
        recipient = fields[4:fields.index(">")]
    elif not (status == "expired" and fields.startswith("from=<")):
        return None
    relay = relay_ip = None
    r = fields.find("relay=")
    if r >= 0:
        e = fields.find(",", r + 6)
        v = fields[r + 6:e if e >= 0 else len(fields)]
        if v != "none":
            hi = host_ip(v, 0)
            if hi:
                relay, relay_ip = hi[0].lower(), hi[1]
            else:
                relay = v
    dsn = None
    d = fields.find("dsn=")
    if d >= 0:
        e = fields.find(",", d + 4)
        dsn = fields[d + 4:e if e >= 0 else len(fields)]
    text = ""
    if rest.startswith(" (") and rest.rfind(")") > 1:
        text = rest[2:rest.rfind(")")]
    elif rest.startswith(", "):
        text = rest[2:].strip()
    reason = text
    suspended = text.startswith("delivery temporarily suspended: ")
    if suspended:
        reason = text[32:]
    code = stage = None
    if status == "sent":
        c = code_at(reason, 0)
        code = c[0] if c else None
    else:
        i = reason.find(" said: ")
        if i >= 0:
            c = code_at(reason, i + 7)
            code = c[0] if c else None
        else:
            i = reason.find("refused to talk to me: ")
            if i >= 0:
                c = code_at(reason, i + 23)
                code = c[0] if c else None
        stage = stage_of(reason)
        if relay is None:
            for p in ("connect to ", "lost connection with ", "conversation with ", "host "):
                if reason.startswith(p):
                    hi = host_ip(reason, len(p))
                    if hi:
                        relay, relay_ip = hi[0].lower(), hi[1]
                    break
    return dict(mta="postfix", queue=qid, status=status, recipient=recipient, domain=domain_of(recipient),
                relay=relay, relay_ip=relay_ip, dsn=dsn, code=code, stage=stage, text=text, reason=reason,
                suspended=suspended, inherit=(status == "expired"))


def parse_exim(mid, flag, rest):
    status = {"==": "deferred", "**": "bounced", "=>": "sent", "->": "sent", ">>": "sent"}[flag]
    sp = rest.find(" ")
    addr = rest if sp < 0 else rest[:sp]
    recipient = addr.rstrip(":")
    after = len(addr)
    while after + 1 < len(rest) and rest[after] == " " and rest[after + 1] in "<(":
        close = ">" if rest[after + 1] == "<" else ")"
        end = rest.find(close, after + 2)
        if end < 0:
            break
        if "@" not in recipient and "@" in rest[after + 2:end]:
            recipient = rest[after + 2:end]
        after = end + 1
    fields = rest[after:]
    relay = relay_ip = None
    text = ""
    inherit = False
    if status == "sent":
        h = fields.find(" H=")
        if h >= 0:
            hi = exim_host_ip(fields, h + 3)
            if hi:
                relay, relay_ip = hi[0].lower(), hi[1]
        c = fields.find(' C="')
        if c >= 0:
            e = fields.find('"', c + 4)
            text = fields[c + 4:e if e >= 0 else len(fields)]
    else:
        start = None
        d = fields.find("defer (")
        if d < 0:
            d = fields.find("error (")
        close = fields.find(")", d) if d >= 0 else -1
        if d >= 0 and close >= 0:
            i = close + 1
            if fields[i:i + 3] == " H=":
                hi = exim_host_ip(fields, i + 3)
                if hi:
                    relay, relay_ip = hi[0].lower(), hi[1]
                    i = hi[2]
            c = fields.find(": ", i)
            if c >= 0:
                start = c + 2
        else:
            h = fields.find(" H=")
            if h >= 0:
                hi = exim_host_ip(fields, h + 3)
                if hi:
                    relay, relay_ip = hi[0].lower(), hi[1]
            c = fields.find(": ")
            if c >= 0:
                start = c + 2
            elif addr.endswith(":"):
                text = fields.strip()
        if start is not None:
            text = fields[start:]
        if relay is None:
            h = text.find(": host ")
            if h < 0:
                h = text.find("H=")
            if h >= 0:
                hi = exim_host_ip(text, h + 7 if text[h] == ":" else h + 2)
                if hi:
                    relay, relay_ip = hi[0].lower(), hi[1]
            if relay is None:
                c = text.find("connected to ")
                if c >= 0:
                    hi = exim_host_ip(text, c + 13)
                    if hi:
                        relay, relay_ip = hi[0].lower(), hi[1]
        if "retry time not reached" in text:
            inherit = True
        elif status == "bounced" and "retry timeout exceeded" in text:
            status = "expired"
            inherit = True
    code = dsn = stage = None
    if status != "sent":
        r = reply_in(text)
        if r:
            code, dsn = r
        stage = stage_of(text)
    else:
        r = code_at(text, 0)
        if r:
            code, dsn = r
    one = text.replace("\\n", " ")
    return dict(mta="exim", queue=mid, status=status, recipient=recipient, domain=domain_of(recipient),
                relay=relay, relay_ip=relay_ip, dsn=dsn, code=code, stage=stage, text=one, reason=one,
                suspended=False, inherit=inherit)


class Classifier:
    """Mirrors EventClassifier: provider, cause, rule, and inheritance."""

    def __init__(self, rules):
        self.rules = rules
        self.by_relay = {}
        self.by_domain = {}
        self.by_queue = {}

    def classify(self, e):
        prov = self.rules.provider(e["relay"], e["domain"])
        e["provider"] = prov
        e["cause"] = e["rule"] = None
        e["inherited"] = False
        if e["status"] == "sent":
            return e
        if e["inherit"]:
            self._inherit(e)
            return e
        cause, rule = self.rules.classify(e["reason"], e["code"], e["dsn"], prov)
        if rule is None and e["suspended"]:
            self._inherit(e)
            return e
        e["cause"], e["rule"] = cause, rule
        if rule is not None:
            if e["relay"]:
                self.by_relay[e["relay"]] = cause
            if e["domain"]:
                self.by_domain[e["domain"]] = cause
            self.by_queue[e["queue"]] = (cause, e["domain"], e["relay"])
        return e

    def _inherit(self, e):
        e["rule"] = None
        if e["status"] == "expired" and e["queue"] in self.by_queue:
            q = self.by_queue[e["queue"]]
            e["cause"], e["inherited"] = q[0], True
            e["domain"] = e["domain"] or q[1]
            e["relay"] = e["relay"] or q[2]
        elif e["relay"] and e["relay"] in self.by_relay:
            e["cause"], e["inherited"] = self.by_relay[e["relay"]], True
        elif e["domain"] and e["domain"] in self.by_domain:
            e["cause"], e["inherited"] = self.by_domain[e["domain"]], True
        elif e["queue"] in self.by_queue:
            e["cause"], e["inherited"] = self.by_queue[e["queue"]][0], True
        else:
            e["cause"], e["inherited"] = "other", False


# ---------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------

MODELLED_KEYS = ANNOTATION_KEYS | {"queue_id", "text"}


def check_fixtures(rules, path, verbose):
    """Runs every *.fixtures file beside `path` in name order through one classifier, as
    FixtureTests.swift does (inheritance carries from line to line and file to file).
    `path` itself (rules.fixtures) must annotate status, cause and rule on every case and
    hit every rule; other files are checked on the fields this script models."""
    hit = {}
    n = 0
    cl = Classifier(rules)
    folder = os.path.dirname(os.path.abspath(path))
    files = sorted(f for f in os.listdir(folder) if f.endswith(".fixtures"))
    if os.path.basename(path) not in files:
        files.append(os.path.basename(path))
    for fn in files:
        full = os.path.join(folder, fn)
        strict = os.path.abspath(full) == os.path.abspath(path)
        pending = None
        with open(full, encoding="utf-8", errors="surrogateescape") as f:
            for lineno, raw in enumerate(f, 1):
                line = raw.rstrip("\n")
                if not line.strip():
                    continue
                if line.startswith("# expect:"):
                    if pending is not None and strict:
                        problem(f"{fn}:{pending[0]}: annotation not followed by a log line")
                    try:
                        exp = json.loads(line[len("# expect:"):].strip())
                    except json.JSONDecodeError as err:
                        problem(f"{fn}:{lineno}: bad JSON in annotation: {err}")
                        continue
                    pending = (lineno, exp)
                    continue
                if line.startswith("#"):
                    continue
                e = parse_line(line)
                if e is not None:
                    cl.classify(e)
                if pending is None:
                    if e is not None:
                        problem(f"{fn}:{lineno}: delivery line without an annotation (the Swift test wants no event)")
                    continue
                alno, exp = pending
                pending = None
                if e is None:
                    problem(f"{fn}:{lineno}: not a Postfix/Exim delivery line")
                    continue
                e["queue_id"] = e["queue"]
                if strict:
                    n += 1
                    if e["rule"]:
                        hit.setdefault(e["rule"], []).append(lineno)
                    for k in exp:
                        if k not in ANNOTATION_KEYS:
                            problem(f"{fn}:{alno}: unknown annotation key {k!r}")
                    for k in ("status", "cause", "rule"):
                        if k not in exp:
                            problem(f"{fn}:{alno}: annotation lacks {k!r}")
                for k, want in exp.items():
                    if k not in MODELLED_KEYS:
                        continue
                    got = e.get(k)
                    if got != want:
                        problem(f"{fn}:{lineno}: {k} is {got!r}, expected {want!r}"
                                + (f"  [text: {e['reason'][:160]}]" if k in ("cause", "rule") else ""))
                if verbose and strict:
                    print(f"  {lineno}: {e['cause']:<20} {e['rule'] or '-':<32} {e['reason'][:90]}")
        if pending is not None:
            problem(f"{fn}:{pending[0]}: annotation at end of file")
    for r in rules.rules:
        if r["id"] not in hit:
            problem(f"rule {r['id']!r} is hit by no fixture")
    return n, hit


# ---------------------------------------------------------------------------------------
# genlog.py
# ---------------------------------------------------------------------------------------

def load_genlog(path):
    import importlib.util
    spec = importlib.util.spec_from_file_location("genlog", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def genlog_renderers(path, mod):
    """pf_defer and ex_defer are nested in genlog's run(): compile them on their own."""
    src = open(path).read()
    tree = ast.parse(src)
    funcs = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name in ("pf_defer", "ex_defer"):
            funcs[node.name] = textwrap.dedent(ast.get_source_segment(src, node))
    if set(funcs) != {"pf_defer", "ex_defer"}:
        raise RuntimeError("genlog.py: pf_defer/ex_defer not found")
    R = random.Random(7)
    ns = {"rnd": R.random, "PF_PHASE": mod.PF_PHASE,
          "gtok": lambda: "a640c23a62f3a-1b2c3d4esi123456.789",
          "msid": lambda: "AM4PEPF00001234.eurprd04.prod.outlook.com"}
    for code in funcs.values():
        exec(code, ns)
    return ns["pf_defer"], ns["ex_defer"]


def check_genlog_templates(rules, path, verbose):
    mod = load_genlog(path)
    pf_defer, ex_defer = genlog_renderers(path, mod)
    # Destinations: every provider's MX hosts and one of its domains; Workspace/M365 tail
    # domains; a self-hosted tail domain.
    dests = []
    head_dom = {}
    for dom, prov, _share, _mx in mod.HEAD:
        head_dom.setdefault(prov, dom)
    for p in mod.PROVIDERS[1:]:
        name = p[0]
        for mx, ips in p[1]:
            dests.append((name, mx, ips[0], head_dom[name]))
    for mx, ips in mod.GWS_MX:
        dests.append(("google", mx, ips[0], "d1.example"))
    dests.append(("microsoft", "d5-example.mail.protection.outlook.com", "52.101.20.4", "d5.example"))
    dests.append((None, "mx.d2.example", "198.18.0.2", "d2.example"))
    for p in mod.PROVIDERS[1:]:
        for dom, prov, _s, _m in mod.HEAD:
            got = rules.provider(None, dom)
            if prov == p[0] and got != prov:
                problem(f"genlog domain {dom} (provider {prov}) is recognised as {got!r}")
        for mx, _ips in p[1]:
            got = rules.provider(mx, None)
            if got != p[0]:
                problem(f"genlog MX {mx} (provider {p[0]}) is recognised as {got!r}")
    for mx, _ips in mod.GWS_MX:
        if rules.provider(mx, None) != "google":
            problem(f"genlog Workspace MX {mx} is not recognised as google")
    checked = 0
    for cause, tmpls in mod.TEMPLATES.items():
        for tm in tmpls:
            tprov = tm[4]
            for (pname, mx, ip, dom) in dests:
                if tprov is not None and tprov != pname:
                    continue   # provider-specific texts are only sent by that provider
                rcpt = f"anna.schmidt@{dom}"
                sender = "orders@shop.example.com"
                for phase_pick in range(3):
                    # Postfix
                    relay, dsn, reason, _pre, _x, site = pf_defer(tm, mx, ip, dom, rcpt, sender,
                                                                   "203.0.113.10", "shop.example.com")
                    reasons = [reason] + (["delivery temporarily suspended: " + reason] if site else [])
                    for rs in reasons:
                        line = (f"Nov 28 10:00:00 mx1 postfix/smtp[1234]: 4F9D195432: to=<{rcpt}>, relay={relay}, "
                                f"delay=1.2, delays=0.1/0/0.5/0.6, dsn={dsn}, status=deferred ({rs})")
                        checked += check_genlog_line(rules, line, cause, verbose)
                    # Exim
                    text, _x, _pre, _site = ex_defer(tm, mx, ip, dom, rcpt, sender, 4242,
                                                     "203.0.113.11", "shop.example.com")
                    line = f"2026-11-28 10:00:00 [4321] 1vAbCd-000123-Ab == {rcpt} {text}"
                    checked += check_genlog_line(rules, line, cause, verbose)
    return checked


def check_genlog_line(rules, line, cause, verbose):
    e = parse_line(line)
    if e is None:
        problem(f"genlog line does not parse: {line}")
        return 0
    cl = Classifier(rules)
    cl.classify(e)
    if e["cause"] != cause:
        problem(f"genlog {cause}: classified {e['cause']} by {e['rule']} (provider {e['provider']}): {e['reason'][:200]}")
    elif verbose:
        print(f"  genlog {cause:<20} {e['rule']:<32} {e['reason'][:80]}")
    return 1


def check_genlog_run(rules, path, verbose):
    """Run genlog on one scripted episode per cause and destination; check every deferral."""
    mod = load_genlog(path)
    dests = [p[0] for p in mod.PROVIDERS[1:]] + ["d2.example"]
    causes = list(mod.CAUSES)
    slot = 1500          # > duration + 700 s of late lines (timeouts are logged 600 s later)
    eps = []
    for i, c in enumerate(causes):
        for j, d in enumerate(dests):
            c2 = causes[(i + j) % len(causes)]
            eps.append({"destination": d, "cause": c2, "start": 300 + i * slot, "duration": 480,
                        "intensity": 1.0})
    span = 300 + len(causes) * slot + 600
    total = 0
    with tempfile.TemporaryDirectory() as tmp:
        epf = os.path.join(tmp, "episodes.json")
        with open(epf, "w") as f:
            json.dump(eps, f)
        for fmt, ts in (("postfix", "rfc3164"), ("exim", "exim"), ("mixed", "rfc3164")):
            out = os.path.join(tmp, f"{fmt}.log")
            truth = os.path.join(tmp, f"{fmt}.json")
            rate = 20
            cmd = [sys.executable, path, "--format", fmt, "--timestamps", ts, "--lines", str(span * rate),
                   "--rate", str(rate), "--episodes", epf, "--noise-rate", "0", "--bounce-rate", "0",
                   "--domains", "2000", "--seed", "3", "--out", out, "--truth", truth]
            if fmt == "mixed":
                cmd += ["--hosts", "2"]
            subprocess.run(cmd, check=True)
            with open(truth) as f:
                t = json.load(f)
            dom_prov = {d: v["provider"] for d, v in t["domains"].items()}
            windows = []
            for ep in t["episodes"]:
                windows.append((ep["destination"], ep["destination_type"], ep["provider"], ep["start_epoch"],
                                ep["end_epoch"] + 700, ep["cause"]))
            t0 = t["start_epoch"]
            seen = {}
            cl = Classifier(rules)
            with open(out) as f:
                for line in f:
                    e = parse_line(line.rstrip("\n"))
                    if e is None or e["status"] != "deferred":
                        continue
                    cl.classify(e)
                    if e["inherit"] or "retry time not reached" in e["reason"]:
                        continue
                    if e["suspended"]:
                        # genlog simulates retries ahead of time, so a "suspended" line can
                        # quote the reason of another episode; the template check covers them.
                        continue
                    when = line_time(line, t0)
                    dom = e["domain"]
                    want = None
                    for (dest, kind, prov, st, en, cause) in windows:
                        if not st <= when < en:
                            continue
                        if (kind == "domain" and dest == dom) or (kind == "provider" and dom_prov.get(dom) == prov):
                            if want is not None:
                                problem(f"genlog run ({fmt}): overlapping episodes at {when}")
                            want = cause
                    if want is None and re.search(r"delay=4\d{5}", line):
                        want = "connection_failure"    # pf_expire: the last try of a 5-day-old message
                    if want is None:
                        problem(f"genlog run ({fmt}): deferral outside any episode: {line.strip()[:200]}")
                        continue
                    total += 1
                    key = (want, e["cause"], e["rule"])
                    seen[key] = seen.get(key, 0) + 1
                    if e["cause"] != want:
                        problem(f"genlog run ({fmt}): {want} classified {e['cause']} by {e['rule']}: {e['reason'][:200]}")
            covered = {k[0] for k in seen}
            for c in causes:
                if c not in covered:
                    problem(f"genlog run ({fmt}): no deferral of cause {c} was generated")
            if verbose:
                for k in sorted(seen):
                    print(f"  genlog run {fmt}: {k[0]:<20} -> {k[1]:<20} {k[2] or '(inherited)':<32} {seen[k]}")
    return total


MONTHS = {m: i for i, m in enumerate(["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                                      "Nov", "Dec"], 1)}


def line_time(line, t0):
    import calendar
    import time
    m = re.match(r"(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)", line)
    if m:
        return calendar.timegm(tuple(int(x) for x in m.groups()) + (0, 0, 0))
    m = re.match(r"(\w{3}) +(\d+) (\d\d):(\d\d):(\d\d)", line)
    year = time.gmtime(t0).tm_year
    return calendar.timegm((year, MONTHS[m.group(1)], int(m.group(2)), int(m.group(3)), int(m.group(4)),
                            int(m.group(5)), 0, 0, 0))


# ---------------------------------------------------------------------------------------
# Corpus survey (information only)
# ---------------------------------------------------------------------------------------

def survey_corpus(rules, corpus):
    counts = {}
    other = {}
    for base, _dirs, files in os.walk(corpus):
        for fn in sorted(files):
            if not fn.endswith(".log"):
                continue
            cl = Classifier(rules)
            with open(os.path.join(base, fn), encoding="utf-8", errors="replace") as f:
                for line in f:
                    e = parse_line(line.rstrip("\n"))
                    if e is None or e["status"] != "deferred":
                        continue
                    cl.classify(e)
                    key = (e["cause"], e["rule"] or ("(inherited)" if e["inherited"] else "-"))
                    counts[key] = counts.get(key, 0) + 1
                    if e["rule"] is None and not e["inherited"]:
                        t = re.sub(r"\d+", "N", e["reason"])[:150]
                        other[t] = other.get(t, 0) + 1
    print("corpus deferrals by cause and rule:")
    for k in sorted(counts, key=lambda k: (-counts[k], k)):
        print(f"  {counts[k]:6d}  {k[0]:<20} {k[1]}")
    print("unexplained texts (digits masked):")
    for t in sorted(other, key=lambda t: -other[t]):
        print(f"  {other[t]:6d}  {t}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rules", default=os.path.join(ROOT, "Config", "rules.toml"))
    ap.add_argument("--fixtures", default=os.path.join(ROOT, "Tests", "DeferWatchCoreTests", "Fixtures", "rules.fixtures"))
    ap.add_argument("--genlog", default=None, help="path of genlog.py (default: shared/bench/genlog.py beside the repo)")
    ap.add_argument("--no-genlog-run", action="store_true", help="skip running genlog (templates are still checked)")
    ap.add_argument("--corpus", default=None, help="also survey the deferrals of a log corpus directory")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()

    rules = Rules(a.rules)
    print(f"rules: {len(rules.providers)} providers, {len(rules.rules)} rules")
    n, hit = check_fixtures(rules, a.fixtures, a.verbose)
    print(f"fixtures: {n} annotated lines, {len(hit)} of {len(rules.rules)} rules hit")

    gl = a.genlog
    if gl is None:
        for cand in (os.path.join(ROOT, "..", "shared", "bench", "genlog.py"),
                     os.path.join(ROOT, "shared", "bench", "genlog.py")):
            if os.path.exists(cand):
                gl = cand
                break
    if gl and os.path.exists(gl):
        k = check_genlog_templates(rules, gl, a.verbose)
        print(f"genlog templates: {k} texts checked")
        if not a.no_genlog_run:
            k = check_genlog_run(rules, gl, a.verbose)
            print(f"genlog run: {k} deferral lines checked")
    else:
        print("genlog.py not found: genlog checks skipped (give --genlog)", file=sys.stderr)

    if a.corpus:
        survey_corpus(rules, a.corpus)

    if problems:
        print(f"\n{len(problems)} problem(s):")
        for p in problems:
            print("  " + p)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
