import DeferWatchCore
import DeferWatchTestSupport
import Testing

/// The sender domain of each message: read from Postfix qmgr and Exim arrival lines, kept
/// per message (bounded), given to the alerts and the report.
@Suite struct SenderTests {
    func engine(collect: Bool = true) -> Engine {
        var p = LogPipeline(header: LineHeaderParser(yearHint: 2026, monthHint: 12, zone: FixedOffsetZone(), defaultHost: "mx1"),
                            rules: .builtin())
        p.collectMessages = collect
        return Engine(pipeline: p, tracker: DeferralTracker(hints: HintBook.builtin(providers: RuleSet.builtin().providers)), report: ReportBuilder())
    }

    func feed(_ e: inout Engine, _ lines: [String]) {
        for var l in lines { l.withUTF8 { e.ingest(line: $0) } }
    }

    static func qmgr(_ i: Int, from: String) -> String {
        "2026-12-01T10:00:\(String(format: "%02d", i))Z mx1 postfix/qmgr[9]: \(String(format: "D%09X", i)): from=<\(from)>, size=1234, nrcpt=1 (queue active)"
    }

    static func deferral(_ i: Int) -> String {
        "2026-12-01T10:01:\(String(format: "%02d", i))Z mx1 postfix/smtp[1]: \(String(format: "D%09X", i)): to=<u\(i)@example.com>, relay=mx.example.com[192.0.2.9]:25, delay=1, delays=0/0/0/1, dsn=4.7.25, status=deferred (host mx.example.com[192.0.2.9] said: 450 4.7.25 Client host rejected: cannot find your reverse hostname, [203.0.113.7] (in reply to RCPT TO command))"
    }

    @Test func bothMTAsNameTheSenderDomain() {
        func sender(_ line: String) -> MessageRecord? {
            var p = LogPipeline(header: LineHeaderParser(yearHint: 2026, monthHint: 12, zone: FixedOffsetZone(), defaultHost: "mx1"),
                                rules: .builtin())
            p.collectMessages = true
            var l = line
            l.withUTF8 { p.process(line: $0, emit: { _ in }) }
            return p.messages.first
        }
        #expect(sender(Self.qmgr(1, from: "Shop@Example.ORG")) == MessageRecord(host: "mx1", queueID: "D000000001", kind: .sender(domain: "example.org")))
        #expect(sender("Dec  1 10:00:00 mx1 postfix-out/qmgr[9]: 4XyZ1abcd: from=<a@b.example.net>, size=9, nrcpt=2 (queue active)")?.senderDomain == "b.example.net")
        // The null sender, an address without a domain, the expiry line: no sender.
        #expect(sender(Self.qmgr(2, from: "")) == nil)
        #expect(sender(Self.qmgr(3, from: "root")) == nil)
        #expect(sender("2026-12-01T10:00:00Z mx1 postfix/qmgr[9]: D000000004: from=<a@example.org>, status=expired, returned to sender") == nil)
        #expect(sender("2026-12-01T10:00:00Z mx1 postfix/pickup[9]: D000000004: uid=0 from=<a@example.org>") == nil)
        // Exim: the mainlog, and syslog with Exim's own timestamp and pid inside.
        #expect(sender("2026-12-01 10:00:00 1vQx2a-000Abc-5Z <= news@lists.example.org H=app [192.0.2.4] P=esmtp S=900 id=x@y")
                == MessageRecord(host: "mx1", queueID: "1vQx2a-000Abc-5Z", kind: .sender(domain: "lists.example.org")))
        #expect(MessageRecord(host: "mx1", queueID: "1vQx2a-000Abc-5Z", kind: .sender(domain: "a")) != MessageRecord(host: "mx2", queueID: "1vQx2a-000Abc-5Z", kind: .sender(domain: "a")))
        #expect(sender("Apr 28 15:53:37 server exim[12105]: 2016-04-28 15:53:37 [12105] 1avnJx-00039F-Hs <= foi+request-1234@example.com")?.senderDomain == "example.com")
        #expect(sender("2026-12-01 10:00:00 1vQx2a-000Abc-5Z <= <> R=1vQx29-000Abb-3Y U=Debian-exim P=local S=1800") == nil)
        // Hostile bytes in the domain: not a domain.
        #expect(sender(Self.qmgr(5, from: "a@exa\u{7f}mple.org")) == nil)
    }

    @Test func anAlertNamesTheSenderDomainsOfTheMailItDeferred() {
        var e = engine()
        feed(&e, (1...6).map { Self.qmgr($0, from: $0 % 2 == 1 ? "orders@shop.example.org" : "news@example.net") })
        feed(&e, (1...6).map(Self.deferral))
        let opened = e.takeTransitions()
        #expect(opened.map(\.state) == [.open])
        // The open transition has the senders of the deferrals that opened it, newest
        // first; the destination's window has them too.
        #expect(opened.first?.alert.senders == ["example.net", "shop.example.org"])
        #expect(e.tracker.openAlerts.first?.senders == ["example.net", "shop.example.org"])
        let dest = e.tracker.deferringDestinations(limit: 10).first { $0.key.scope == .domain && $0.key.name == "example.com" }
        #expect(dest?.senders == ["example.net", "shop.example.org"])
        #expect(e.sendersKnown.messages == 6)
        let r = e.finishReport()!
        #expect(r.senders.map(\.domain) == ["example.net", "shop.example.org"])
        #expect(r.senders.map(\.attempts.deferred) == [3, 3])
        #expect(r.text().contains("SENDER DOMAINS WITH DEFERRALS"))
        // Without collecting, nothing changes but the senders.
        var plain = engine(collect: false)
        feed(&plain, (1...3).map { Self.qmgr($0, from: "orders@shop.example.org") })
        feed(&plain, (1...6).map(Self.deferral))
        #expect(plain.takeTransitions().map { "\($0.state) \($0.alert.id)" } == opened.map { "\($0.state) \($0.alert.id)" })
        #expect(plain.tracker.openAlerts.first?.senders == nil)
    }

    @Test func theBookIsBounded() {
        var b = SenderBook(slots: 100)
        #expect(b.count == 0)
        for i in 0..<1000 { b.take(MessageRecord(host: "mx1", queueID: "Q\(i)", kind: .sender(domain: "d\(i % 7).example"))) }
        // 128 slots: never more, and the newest message is always there.
        #expect(b.count <= 128)
        #expect(b.forgotten >= 1000 - 128)
        let recent = DeliveryEvent(time: 0, mta: .postfix, host: "mx1", queueID: "Q999", recipient: nil, domain: nil, status: .deferred)
        #expect(b.domain(of: recent) == "d5.example")
        var sent = recent
        sent.status = .sent
        #expect(b.domain(of: sent) == nil)
        // Of the first messages, most are forgotten.
        let firstKnown = (0..<100).filter {
            b.domain(of: DeliveryEvent(time: 0, mta: .postfix, host: "mx1", queueID: "Q\($0)", recipient: nil, domain: nil, status: .deferred)) != nil
        }
        #expect(firstKnown.count < 20)
    }
}
