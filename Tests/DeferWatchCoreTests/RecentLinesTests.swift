import DeferWatchCore
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
}
