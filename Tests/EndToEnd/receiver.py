#!/usr/bin/env python3
"""Scripted SMTP receivers for deferwatch's end-to-end test.

One process plays every receiver of a scenario file (scenario.json), each on its own
loopback address (127.0.x.y, port 25 by default). A receiver follows its script:

  mode "accept"    accepts every message.
  mode "script"    accepts the first `accept_first` messages, then answers the scripted
                   4xx reply at the scripted stage `times` times, then accepts again.
  mode "greylist"  answers the scripted reply at RCPT for the first `defer_attempts`
                   attempts of each new (client address, sender, recipient) triplet.
  mode "silent"    accepts the TCP connection and never says anything.
  "listen": false  no listener at all: connections are refused by the kernel.

Stages are named as deferwatch names them: greeting, helo (EHLO or HELO), mail, rcpt,
data (the DATA command) and end-of-data. A 421 reply closes the connection, as RFC 5321
says it must.

Every reply sent is written as one JSON object per line to the record file (--record), so
the test knows what happened without reading the MTA's log:

  {"time": "2025-05-20T10:00:00.123456Z", "receiver": "gmail-rate-limit",
   "hostname": "gmail-smtp-in.l.google.com", "address": "127.0.25.1",
   "client": "127.0.0.1", "client_port": 41236, "session": 3, "stage": "end-of-data",
   "command": "DATA", "code": 421, "dsn": "4.7.28", "text": "421-4.7.28 ...\\n421 4.7.28 ...",
   "scripted": true, "closing": true, "sender": "news@...", "recipients": ["a@gmail.com"],
   "message_id": "<...>", "subject": "..."}

A silent receiver writes one record per connection when it ends, with "event": "silence",
"code": null, the time the connection was opened ("opened") and who closed it
("closed_by": "client" or "shutdown").

Standard library only (Python 3.11). Prints "ready" on standard output once every listener
is bound. SIGTERM or SIGINT: stop listening, close open sessions, flush the record, exit 0.

Usage: receiver.py --scenario scenario.json --record record.jsonl [--only NAME ...]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import email.parser
import email.policy
import json
import random
import signal
import string
import sys
from dataclasses import dataclass, field

MAX_LINE = 64 * 1024
MAX_MESSAGE = 10 * 1024 * 1024
COMMAND_IDLE = 120.0  # seconds a session may sit idle before the receiver drops it
SILENT_LIMIT = 600.0  # a silent session ends after this long at the latest


def now_rfc3339() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def random_token(length: int, alphabet: str = string.ascii_lowercase + string.digits) -> str:
    return "".join(random.choice(alphabet) for _ in range(length))


class Recorder:
    """Appends JSON lines to the record file, flushed after each line."""

    def __init__(self, path: str):
        self.file = open(path, "a", encoding="utf-8", buffering=1)

    def write(self, obj: dict) -> None:
        self.file.write(json.dumps(obj, ensure_ascii=False, sort_keys=False) + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.flush()
        self.file.close()


@dataclass
class Reply:
    code: int
    dsn: str | None
    lines: list[str]
    dsn_each_line: bool = True
    close: bool | None = None  # None: close when code is 421

    def render(self, values: dict) -> list[str]:
        texts = [line.format_map(values) for line in self.lines] or [""]
        out = []
        for i, text in enumerate(texts):
            sep = " " if i == len(texts) - 1 else "-"
            dsn = f"{self.dsn} " if self.dsn and (i == 0 or self.dsn_each_line) else ""
            out.append(f"{self.code}{sep}{dsn}{text}".rstrip())
        return out

    @property
    def closes(self) -> bool:
        return self.close if self.close is not None else self.code == 421

    @staticmethod
    def from_json(obj: dict) -> "Reply":
        lines = obj.get("lines")
        if lines is None:
            lines = [obj.get("text", "")]
        return Reply(
            code=int(obj["code"]),
            dsn=obj.get("dsn"),
            lines=list(lines),
            dsn_each_line=bool(obj.get("dsn_each_line", True)),
            close=obj.get("close"),
        )


STAGES = ("greeting", "helo", "mail", "rcpt", "data", "end-of-data")


@dataclass
class ReceiverSpec:
    name: str
    hostname: str
    address: str
    port: int
    mode: str
    banner: str
    accepted_text: str
    stage: str | None = None
    reply: Reply | None = None
    accept_first: int = 0
    times: int = 0
    defer_attempts: int = 1

    @staticmethod
    def from_json(obj: dict) -> "ReceiverSpec":
        mode = obj.get("mode", "accept")
        if mode not in ("accept", "script", "greylist", "silent"):
            raise ValueError(f"receiver {obj.get('name')}: unknown mode {mode!r}")
        spec = ReceiverSpec(
            name=obj["name"],
            hostname=obj["hostname"],
            address=obj["address"],
            port=int(obj.get("port", 25)),
            mode=mode,
            banner=obj.get("banner", "{host} ESMTP ready"),
            accepted_text=obj.get("accepted", "2.0.0 OK {queue_id}"),
        )
        script = obj.get("script")
        if mode in ("script", "greylist"):
            if not script:
                raise ValueError(f"receiver {spec.name}: mode {mode} needs a script")
            spec.stage = script.get("stage", "rcpt")
            if spec.stage not in STAGES:
                raise ValueError(f"receiver {spec.name}: unknown stage {spec.stage!r}")
            if mode == "greylist" and spec.stage != "rcpt":
                raise ValueError(f"receiver {spec.name}: a greylister answers at rcpt")
            spec.reply = Reply.from_json(script)
            if not 400 <= spec.reply.code <= 499:
                raise ValueError(f"receiver {spec.name}: scripted replies are 4xx")
            spec.accept_first = int(script.get("accept_first", 0))
            spec.times = int(script.get("times", 0))
            spec.defer_attempts = int(script.get("defer_attempts", 1))
        return spec


@dataclass
class ReceiverState:
    spec: ReceiverSpec
    accepted: int = 0
    deferred: int = 0
    sessions: int = 0
    triplets: dict = field(default_factory=dict)

    def should_defer(self, stage: str, client: str, sender: str | None, rcpt: str | None) -> bool:
        spec = self.spec
        if spec.stage != stage:
            return False
        if spec.mode == "script":
            if self.accepted >= spec.accept_first and self.deferred < spec.times:
                self.deferred += 1
                return True
            return False
        if spec.mode == "greylist":
            key = (client, (sender or "").lower(), (rcpt or "").lower())
            seen = self.triplets.get(key, 0)
            if seen < spec.defer_attempts:
                self.triplets[key] = seen + 1
                self.deferred += 1
                return True
            return False
        return False


class Session:
    def __init__(self, server: "ReceiverServer", reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter):
        self.server = server
        self.state = server.state
        self.spec = server.state.spec
        self.reader = reader
        self.writer = writer
        peer = writer.get_extra_info("peername") or ("?", 0)
        self.client, self.client_port = peer[0], peer[1]
        self.state.sessions += 1
        self.number = self.state.sessions
        self.helo: str | None = None
        self.reset()

    def reset(self) -> None:
        self.sender: str | None = None
        self.recipients: list[str] = []

    def values(self, rcpt: str | None = None) -> dict:
        return {
            "host": self.spec.hostname,
            "client": self.client,
            "sender": self.sender or "",
            "rcpt": rcpt or (self.recipients[-1] if self.recipients else ""),
            "gid": f"{random_token(13, string.ascii_lowercase + string.digits)}-"
                   f"{random_token(10)}si.{random.randint(10, 999)}",
            "queue_id": random_token(10, string.ascii_uppercase + string.digits),
            "session": self.number,
            "date": dt.datetime.now(dt.timezone.utc).strftime("%a, %d %b %Y %H:%M:%S +0000"),
        }

    def record_head(self) -> dict:
        """The fields every line of the record starts with: when, which receiver, which session."""
        return {
            "time": now_rfc3339(),
            "receiver": self.spec.name,
            "hostname": self.spec.hostname,
            "address": self.spec.address,
            "client": self.client,
            "client_port": self.client_port,
            "session": self.number,
        }

    async def send(self, lines: list[str], *, stage: str, command: str | None,
                   scripted: bool = False, closing: bool = False, dsn: str | None = None,
                   recipients: list[str] | None = None, message_id: str | None = None,
                   subject: str | None = None) -> None:
        data = "".join(line + "\r\n" for line in lines).encode("utf-8", "replace")
        code = int(lines[-1][:3])
        self.server.recorder.write({
            **self.record_head(),
            "stage": stage,
            "command": command,
            "code": code,
            "dsn": dsn,
            "text": "\n".join(lines),
            "scripted": scripted,
            "closing": closing,
            "sender": self.sender,
            "recipients": list(recipients if recipients is not None else self.recipients),
            "message_id": message_id,
            "subject": subject,
        })
        self.writer.write(data)
        await self.writer.drain()

    async def simple(self, code: int, dsn: str | None, text: str, *, stage: str,
                     command: str | None, closing: bool = False) -> None:
        line = f"{code} {dsn + ' ' if dsn else ''}{text}".rstrip()
        await self.send([line], stage=stage, command=command, dsn=dsn, closing=closing)

    async def scripted(self, stage: str, command: str | None, rcpt: str | None = None,
                       recipients: list[str] | None = None, message_id: str | None = None,
                       subject: str | None = None) -> bool:
        """Sends the scripted reply; returns True when the session must end."""
        reply = self.spec.reply
        assert reply is not None
        lines = reply.render(self.values(rcpt))
        if recipients is None:
            recipients = [rcpt] if rcpt else list(self.recipients)
        await self.send(lines, stage=stage, command=command, scripted=True,
                        closing=reply.closes, dsn=reply.dsn, recipients=recipients,
                        message_id=message_id, subject=subject)
        return reply.closes

    async def readline(self) -> bytes | None:
        try:
            line = await asyncio.wait_for(self.reader.readline(), COMMAND_IDLE)
        except (asyncio.TimeoutError, asyncio.LimitOverrunError, ValueError, ConnectionError):
            return None
        return line or None

    async def run(self) -> None:
        try:
            if self.spec.mode == "silent":
                await self.run_silent()
            else:
                await self.run_smtp()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            try:
                self.writer.close()
                await self.writer.wait_closed()
            except Exception:
                pass

    async def run_silent(self) -> None:
        opened = now_rfc3339()
        closed_by = "client"
        try:
            # Read (and ignore) whatever the client sends until it gives up and hangs up.
            while True:
                chunk = await asyncio.wait_for(self.reader.read(4096), SILENT_LIMIT)
                if not chunk:
                    break
        except asyncio.TimeoutError:
            closed_by = "receiver"
        except asyncio.CancelledError:
            closed_by = "shutdown"
            raise
        except ConnectionError:
            closed_by = "client"
        finally:
            self.server.recorder.write({
                **self.record_head(),
                "stage": "greeting",
                "event": "silence",
                "code": None,
                "dsn": None,
                "text": None,
                "scripted": True,
                "opened": opened,
                "closed_by": closed_by,
            })

    async def run_smtp(self) -> None:
        st = self.state
        if st.should_defer("greeting", self.client, None, None):
            if await self.scripted("greeting", None, recipients=[]):
                return
        else:
            banner = self.spec.banner.format_map(self.values())
            await self.send([f"220 {banner}"], stage="greeting", command=None)

        while True:
            raw = await self.readline()
            if raw is None:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            verb, _, arg = line.partition(" ")
            verb = verb.upper()

            if verb in ("EHLO", "HELO"):
                self.reset()
                if st.should_defer("helo", self.client, None, None):
                    if await self.scripted("helo", line, recipients=[]):
                        return
                    continue
                self.helo = arg.strip()
                if verb == "EHLO":
                    # No PIPELINING, STARTTLS, CHUNKING or AUTH: a plain, predictable dialogue.
                    caps = [f"{self.spec.hostname} at your service, [{self.client}]",
                            "SIZE 35882577", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8"]
                    lines = [f"250-{c}" for c in caps[:-1]] + [f"250 {caps[-1]}"]
                    await self.send(lines, stage="helo", command=line)
                else:
                    await self.simple(250, None, f"{self.spec.hostname} at your service",
                                      stage="helo", command=line)

            elif verb == "MAIL":
                if self.helo is None:
                    await self.simple(503, "5.5.1", "EHLO/HELO first.", stage="mail", command=line)
                    continue
                if self.sender is not None:
                    await self.simple(503, "5.5.1", "Nested MAIL command.", stage="mail",
                                      command=line)
                    continue
                sender = address_of(arg, "FROM:")
                if sender is None:
                    await self.simple(501, "5.5.4", "Syntax: MAIL FROM:<address>", stage="mail",
                                      command=line)
                    continue
                self.sender = sender
                if st.should_defer("mail", self.client, sender, None):
                    closes = await self.scripted("mail", line, recipients=[])
                    self.sender = None
                    if closes:
                        return
                    continue
                await self.simple(250, "2.1.0", "OK", stage="mail", command=line)

            elif verb == "RCPT":
                if self.sender is None:
                    await self.simple(503, "5.5.1", "MAIL first.", stage="rcpt", command=line)
                    continue
                rcpt = address_of(arg, "TO:")
                if not rcpt:
                    await self.simple(501, "5.5.4", "Syntax: RCPT TO:<address>", stage="rcpt",
                                      command=line)
                    continue
                if st.should_defer("rcpt", self.client, self.sender, rcpt):
                    if await self.scripted("rcpt", line, rcpt=rcpt, recipients=[rcpt]):
                        return
                    continue
                self.recipients.append(rcpt)
                await self.send([f"250 2.1.5 OK"], stage="rcpt", command=line, dsn="2.1.5",
                                recipients=[rcpt])

            elif verb == "DATA":
                if not self.recipients:
                    await self.simple(503, "5.5.1", "RCPT first.", stage="data", command=line)
                    continue
                if st.should_defer("data", self.client, self.sender, None):
                    closes = await self.scripted("data", line)
                    self.reset()
                    if closes:
                        return
                    continue
                await self.simple(354, None, "Go ahead", stage="data", command=line)
                body = await self.read_data()
                if body is None:
                    return
                message_id, subject = headers_of(body)
                recipients = list(self.recipients)
                if st.should_defer("end-of-data", self.client, self.sender, None):
                    closes = await self.scripted("end-of-data", "DATA", recipients=recipients,
                                                 message_id=message_id, subject=subject)
                    self.reset()
                    if closes:
                        return
                    continue
                st.accepted += 1
                text = self.spec.accepted_text.format_map(self.values())
                await self.send([f"250 {text}"], stage="end-of-data", command="DATA",
                                dsn=text.split(" ", 1)[0] if text[:1].isdigit() else None,
                                recipients=recipients, message_id=message_id, subject=subject)
                self.reset()

            elif verb == "RSET":
                self.reset()
                await self.simple(250, "2.0.0", "OK", stage="rset", command=line)
            elif verb == "NOOP":
                await self.simple(250, "2.0.0", "OK", stage="noop", command=line)
            elif verb == "QUIT":
                await self.simple(221, "2.0.0", "closing connection", stage="quit", command=line,
                                  closing=True)
                return
            elif verb == "STARTTLS":
                # Not advertised; a client that asks anyway gets a permanent "not implemented".
                await self.simple(502, "5.5.1", "STARTTLS not offered here", stage="other",
                                  command=line)
            elif verb == "VRFY":
                await self.simple(252, "2.1.5", "Send some mail, I'll try my best", stage="other",
                                  command=line)
            else:
                await self.simple(502, "5.5.2", "Command not recognized", stage="other",
                                  command=line[:200])

    async def read_data(self) -> bytes | None:
        lines: list[bytes] = []
        size = 0
        while True:
            try:
                raw = await asyncio.wait_for(self.reader.readline(), COMMAND_IDLE)
            except (asyncio.TimeoutError, asyncio.LimitOverrunError, ValueError, ConnectionError):
                return None
            if not raw:
                return None
            if raw in (b".\r\n", b".\n"):
                return b"".join(lines)
            if raw.startswith(b"."):
                raw = raw[1:]
            size += len(raw)
            if size <= MAX_MESSAGE:
                lines.append(raw)


def address_of(arg: str, prefix: str) -> str | None:
    arg = arg.strip()
    if not arg.upper().startswith(prefix):
        return None
    rest = arg[len(prefix):].strip()
    if rest.startswith("<"):
        end = rest.find(">")
        if end < 0:
            return None
        return rest[1:end]
    return rest.split(" ", 1)[0]


def headers_of(body: bytes) -> tuple[str | None, str | None]:
    head = body.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    try:
        msg = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(head)
    except Exception:
        return None, None
    mid = msg.get("Message-ID")
    subject = msg.get("Subject")
    return (str(mid).strip() if mid else None, str(subject).strip() if subject else None)


class ReceiverServer:
    def __init__(self, spec: ReceiverSpec, recorder: Recorder):
        self.state = ReceiverState(spec)
        self.recorder = recorder
        self.server: asyncio.base_events.Server | None = None
        self.tasks: set[asyncio.Task] = set()

    async def start(self) -> None:
        spec = self.state.spec
        self.server = await asyncio.start_server(self.handle, host=spec.address, port=spec.port,
                                                 reuse_address=True, limit=MAX_LINE)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)
        try:
            await Session(self, reader, writer).run()
        finally:
            if task is not None:
                self.tasks.discard(task)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.server is not None:
            try:
                await asyncio.wait_for(self.server.wait_closed(), 5)
            except asyncio.TimeoutError:
                pass


def load_specs(path: str, only: list[str] | None) -> list[ReceiverSpec]:
    with open(path, encoding="utf-8") as f:
        scenario = json.load(f)
    specs = []
    for obj in scenario["receivers"]:
        if only and obj["name"] not in only:
            continue
        if obj.get("listen", True) is False:
            continue  # nobody listens there: the kernel refuses the connection
        specs.append(ReceiverSpec.from_json(obj))
    return specs


async def main_async(args: argparse.Namespace) -> int:
    specs = load_specs(args.scenario, args.only)
    recorder = Recorder(args.record)
    servers = [ReceiverServer(spec, recorder) for spec in specs]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        for server in servers:
            try:
                await server.start()
            except OSError as e:
                spec = server.state.spec
                print(f"receiver: cannot listen on {spec.address}:{spec.port} for {spec.name}: "
                      f"{e.strerror or e}", file=sys.stderr)
                return 2
        print("ready", flush=True)
        await stop.wait()
    finally:
        await asyncio.gather(*(s.stop() for s in servers), return_exceptions=True)
        recorder.close()
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description="Scripted SMTP receivers for deferwatch's "
                                            "end-to-end test.")
    p.add_argument("--scenario", required=True, help="the scenario file (JSON)")
    p.add_argument("--record", required=True, help="where to append the JSON-lines record")
    p.add_argument("--only", action="append", help="run only this receiver (repeatable)")
    args = p.parse_args()
    try:
        return asyncio.run(main_async(args))
    except (ValueError, KeyError) as e:
        print(f"receiver: bad scenario {args.scenario}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
