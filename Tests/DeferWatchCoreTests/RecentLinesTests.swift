import DeferWatchCore
import DeferWatchTestSupport
import Foundation
import Testing

/// The daemon's recent memory of mail lines (`status trace`): the newest kept within the
/// budget, the oldest forgotten first, a line larger than the budget refused, the two
/// passes of trace over what is kept.
@Suite struct RecentLinesTests {
    static func line(_ i: Int, id: String? = nil, rest: String? = nil) -> MessageTrace.Line {
        MessageTrace.Line(time: Int64(i) * 1_000_000, mta: .postfix,
                          key: MessageTrace.MessageKey(host: "mx1", id: id ?? "Q\(i)"),
                          rest: rest ?? "to=<u\(i)@example.net>, relay=none, delay=1, status=deferred (connect to example.net: Connection refused)",
                          attempt: nil)
    }

    @Test func theNewestAreKeptWithinTheBudget() {
        let w = Self.line(0).weight
        var r = MessageTrace.Recent(budget: 10 * w + w / 2)
        for i in 0..<5_000 { r.append(Self.line(i)) }
        #expect(r.count == 10)
        #expect(r.bytes <= r.budget)
        #expect(r.forgotten == 4_990)
        #expect(r.lines.map(\.key.id) == (4_990..<5_000).map { "Q\($0)" })
        let oldest: Int64? = r.oldestTime
        #expect(oldest == Int64(4_990_000_000), "\(String(describing: oldest))")
    }

    @Test func aLineLargerThanTheBudgetIsRefusedAndForgetsNothing() {
        var r = MessageTrace.Recent(budget: 2_000)
        r.append(Self.line(1))
        r.append(Self.line(2, rest: String(repeating: "x", count: 5_000)))
        #expect(r.lines.map(\.key.id) == ["Q1"])
        #expect(r.forgotten == 1)
        var none = MessageTrace.Recent(budget: 0)
        none.append(Self.line(1))
        #expect(none.count == 0)
    }

    @Test func traceFindsTheMessageAndItsBounceAmongTheLinesKept() {
        var r = MessageTrace.Recent(budget: 1 << 20)
        r.append(Self.line(1, id: "4AbC12dEfG", rest: "from=<shop@example.org>, size=4242, nrcpt=1 (queue active)"))
        r.append(Self.line(2, id: "5ZzZ99yYxX", rest: "client=other.example.org[192.0.2.5]"))
        r.append(Self.line(3, id: "4AbC12dEfG", rest: "sender non-delivery notification: 6BoUnCe123"))
        r.append(Self.line(4, id: "6BoUnCe123", rest: "from=<>, size=6000, nrcpt=1 (queue active)"))
        r.append(Self.line(5, id: "4AbC12dEfG", rest: "removed"))
        let found = r.trace(MessageTrace.Query("<shop@example.org>"))
        #expect(found.map(\.key.id) == ["4AbC12dEfG", "6BoUnCe123"])
        #expect(found.first?.steps.map(\.kind) == [.queued, .bounceCreated, .removed])
        #expect(found.last?.parent?.id == "4AbC12dEfG")
        #expect(r.trace(MessageTrace.Query("nobody@example.org")).isEmpty)
    }

    /// Everything a line says, to compare two of them.
    static func describe(_ l: MessageTrace.Line) -> String {
        var s = "\(l.time.map(String.init) ?? "-")|\(l.mta)|\(l.key.host)|\(l.key.id)|\(l.rest)"
        if let a = l.attempt {
            s += "|\(a.status)|\(a.cause?.rawValue ?? "-")|\(a.recipient ?? "-")|\(a.relay ?? "-")|\(a.dsn ?? "-")|\(a.text ?? "-")"
        }
        return s
    }

    /// The lines kept from a record's bytes are the lines `MessageTrace.line` makes of it, on
    /// every Postfix and Exim line of the shared corpus and on hand-made hard ones: no time,
    /// upper-case host, non-ASCII and invalid UTF-8 text, a rest over the 2,000-byte limit,
    /// a reply over 500 characters.
    @Test func linesKeptFromBytesAreTheLinesMadeOfTheRecord() throws {
        var texts: [String] = []
        if let corpus = TestPaths.corpus {
            for mta in ["postfix", "exim"] {
                let dir = corpus.appendingPathComponent(mta)
                for f in try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() where f.hasSuffix(".log") {
                    texts.append(String(decoding: try Data(contentsOf: dir.appendingPathComponent(f)), as: UTF8.self))
                }
            }
        }
        let longReply = String(repeating: "é lent ", count: 120)
        var raw = Array("""
        Dec  1 10:00:00 MX1.Example.ORG postfix/smtp[7]: 4AbC12dEfG: to=<ü@exämple.net>, relay=mx.example.net[192.0.2.1]:25, delay=5, delays=0/0/0/1, dsn=4.2.2, status=deferred (host mx.example.net[192.0.2.1] said: 452 4.2.2 \(longReply) (in reply to RCPT TO command))
        Dec  1 10:00:01 mx1 postfix/qmgr[9]: 4AbC12dEfG: from=<s@shop.example>, size=\(String(repeating: "9", count: 2_500)), nrcpt=1 (queue active)
        2026-12-01 10:40:00 1xX5rE-000001-AB == x@example.com R=dnslookup T=remote_smtp defer (-45) H=mx.example.com [192.0.2.5]: SMTP error from remote mail server after RCPT TO:<x@example.com>: 451 4.7.1 Greylisted, try again later
        mx1 postfix/cleanup[3]: 5ZzZ99yYxX: message-id=<a@b>

        """.utf8)
        // Invalid UTF-8 in a rest, short and over the limit.
        raw += Array("Dec  1 10:00:02 mx1 postfix/cleanup[3]: 6BoUnCe123: message-id=<".utf8) + [0xFF, 0xC3] + Array(">\n".utf8)
        raw += Array("Dec  1 10:00:03 mx1 postfix/cleanup[3]: 7BoUnCe123: message-id=<".utf8) + [UInt8](repeating: 0xE9, count: 1_990) + Array(">\n".utf8)
        texts.append(String(decoding: raw, as: UTF8.self))

        var made: [MessageTrace.Line] = []
        var recent = MessageTrace.Recent(budget: 1 << 30)
        let p = LogPipeline(header: LineHeaderParser(yearHint: 2026, monthHint: 12, zone: FixedOffsetZone(), defaultHost: "mx1"),
                            rules: .builtin())
        var e = Engine(pipeline: p, tracker: nil)
        e.recordTap = { r, ev in
            if let l = MessageTrace.line(r, event: ev) { made.append(l) }
            recent.append(r, event: ev)
        }
        for t in texts {
            for line in t.split(separator: "\n", omittingEmptySubsequences: true) {
                var l = String(line)
                l.withUTF8 { e.ingest(line: $0) }
            }
        }
        // The invalid bytes: fed as bytes, not through a String.
        for line in raw.split(separator: UInt8(ascii: "\n")) {
            Array(line).withUnsafeBufferPointer { e.ingest(line: $0) }
        }
        e.recordTap = nil
        let kept = recent.lines
        #expect(made.count > 1_000, "\(made.count) lines: is the shared corpus there?")
        #expect(kept.count == made.count)
        #expect(made.contains { $0.attempt?.text.map { $0.count == 500 } ?? false })
        #expect(made.contains { $0.rest.utf8.count == MessageTrace.Line.restLimit })
        for (a, b) in zip(made, kept) where Self.describe(a) != Self.describe(b) {
            Issue.record("kept \(Self.describe(b))\nmade \(Self.describe(a))")
            break
        }
        #expect(recent.bytes == kept.reduce(0) { $0 + $1.weight })

        // Both passes over the bytes, decoding only what may match, find what both passes
        // over the decoded lines find: queries by id, by address, in upper case, and an
        // Exim message whose bounce arrived.
        func traced(_ q: MessageTrace.Query, _ lines: [MessageTrace.Line]) -> [String] {
            var f = MessageTrace.Finder(query: q)
            for l in lines { f.take(l) }
            guard !f.matched.isEmpty else { return [] }
            var c = MessageTrace.Collector(f)
            for l in lines { c.take(l) }
            return c.result.map { t in "\(t.key.host) \(t.key.id) \(t.parent?.id ?? "-") " + t.steps.map { "\($0.kind)" }.joined(separator: ",") }
        }
        var queries = ["1xX5rE-000001-AB", "X@EXAMPLE.COM", "<s@shop.example>", "nobody@nowhere.example"]
        for l in made.enumerated().filter({ $0.offset % 601 == 0 }).map(\.element) {
            queries.append(l.key.id)
            if let r = l.attempt?.recipient { queries.append(r) }
        }
        var found = 0
        for q in queries {
            let want = traced(MessageTrace.Query(q), made)
            let got = recent.trace(MessageTrace.Query(q)).map { t in "\(t.key.host) \(t.key.id) \(t.parent?.id ?? "-") " + t.steps.map { "\($0.kind)" }.joined(separator: ",") }
            if got != want { Issue.record("query \(q): the bytes gave \(got.count) traces, the lines \(want.count), or their steps differ") }
            found += want.isEmpty ? 0 : 1
        }
        #expect(found >= queries.count / 2, "\(found) of \(queries.count) queries found a message")
    }

    /// Lines of every size through a small ring, round and round: what is kept is always
    /// the newest of the lines that fit the budget, in order, within the budget; every line
    /// is either kept or counted forgotten (a line larger than the budget is refused); the
    /// newest is always kept when it fits.
    @Test func aSmallRingKeepsTheNewestInOrderWithLinesOfEverySize() {
        var rng = SeededRandom(12)
        for budget in [300, 1_000, 4_096] {
            var r = MessageTrace.Recent(budget: budget)
            var accepted: [String] = []
            for i in 0..<3_000 {
                let l = Self.line(i, rest: String(repeating: "r", count: Int(rng.next() % 400)))
                if l.weight <= budget { accepted.append(Self.describe(l)) }
                r.append(l)
                let kept = r.lines.map(Self.describe)
                let ok = r.bytes <= budget && kept.count == r.count && r.count + r.forgotten == i + 1
                    && kept == Array(accepted.suffix(kept.count)) && (l.weight > budget || kept.last == Self.describe(l))
                    && (kept.count > 0 || accepted.isEmpty)
                if !ok {
                    Issue.record("budget \(budget), line \(i): \(kept.count) kept, \(r.forgotten) forgotten, \(r.bytes) bytes")
                    return
                }
            }
        }
    }

    /// Which lines name a message: a Postfix queue id of 5 to 20 letters and digits before
    /// ": ", an Exim message id whose first space is at 16 to 23 with '-' at 6; the rest is
    /// what follows.
    @Test func theIdOfALineIsFoundByItsShape() {
        func id(_ program: String, _ message: String) -> String? {
            let p = Array(program.utf8), m = Array(message.utf8), h = Array("mx1".utf8)
            return p.withUnsafeBufferPointer { pb in
                m.withUnsafeBufferPointer { mb in
                    h.withUnsafeBufferPointer { hb in
                        MessageTrace.line(LogRecord(time: nil, host: hb, program: pb, message: mb), event: nil).map { "\($0.key.id)|\($0.rest)" }
                    }
                }
            }
        }
        #expect(id("postfix/qmgr", "ABCDE: removed") == "ABCDE|removed")
        #expect(id("postfix/qmgr", "ABCD: removed") == nil)
        #expect(id("postfix/qmgr", String(repeating: "A", count: 20) + ": removed") == String(repeating: "A", count: 20) + "|removed")
        #expect(id("postfix/qmgr", String(repeating: "A", count: 21) + ": removed") == nil)
        #expect(id("postfix/qmgr", "AB-CDE: removed") == nil)
        #expect(id("postfix/qmgr", "ABCDEF") == nil)
        #expect(id("postfix/qmgr", "ABCDEF:") == nil)
        #expect(id("postfix/qmgr", "ABCDEF: ") == "ABCDEF|")
        #expect(id("postfix/smtpd", "connect from a.example[192.0.2.1]") == nil)
        #expect(id("exim", "1vAb17-000001-DH == a@b.example R=x") == "1vAb17-000001-DH|== a@b.example R=x")
        #expect(id("exim", "1vAb17-000000000001-0000 <= a@b.example") == nil)
        #expect(id("exim", "1vAb17-00000000001-0000 <= a@b.example") == "1vAb17-00000000001-0000|<= a@b.example")
        #expect(id("exim", "1vAb17-00001-DH == a@b.example") == nil)
        #expect(id("exim", "1vAb17x000001-DH == a@b.example") == nil)
    }
}
