import DeferWatchCore
import DeferWatchDaemon
import DeferWatchTestSupport
import Foundation
import Testing

/// The syslog sink against a real rsyslogd, and without one.
@Suite(.serialized) struct SyslogSinkTests {
    static let rules = RuleSet.builtin()
    static let hints = HintBook.builtin(providers: rules.providers)

    /// Transitions of a real scenario: open, escalate (expiry), resolve.
    static func transitions(text: String = "421-4.7.28 rate limited - gsmtp") -> [AlertTransition] {
        var tracker = DeferralTracker(hints: hints)
        var out: [AlertTransition] = []
        let t0: Int64 = 1_795_824_000 * 1_000_000
        for i in 0..<20 {
            var e = DeliveryEvent(time: t0 + Int64(i) * 30_000_000, mta: .postfix, host: "mx1", queueID: "Q\(i)",
                                  recipient: "u\(i)@gmail.com", domain: "gmail.com", status: .deferred,
                                  relay: "gmail-smtp-in.l.google.com", text: text)
            e.cause = .rateLimit
            e.provider = "google"
            out += tracker.record(e)
        }
        var x = DeliveryEvent(time: t0 + 700_000_000, mta: .postfix, host: "mx1", queueID: "Q1", recipient: nil, domain: "gmail.com",
                              status: .expired, relay: "gmail-smtp-in.l.google.com")
        x.provider = "google"
        out += tracker.record(x)
        var s = DeliveryEvent(time: t0 + 800_000_000, mta: .postfix, host: "mx1", queueID: "Q99", recipient: "a@gmail.com",
                              domain: "gmail.com", status: .sent, relay: "gmail-smtp-in.l.google.com")
        s.provider = "google"
        out += tracker.record(s)
        out += tracker.advance(to: t0 + 3_000_000_000)
        return out
    }

    @Test(.enabled(if: RsyslogServer.isAvailable || ProcessInfo.processInfo.environment["CI"] != nil, "rsyslogd is not installed"))
    func alertsReachRsyslogWithFacilityAndPriority() throws {
        let server = try RsyslogServer()
        defer { server.stop() }
        var config = SyslogConfig()
        config.socket = server.socket.path
        let sink = SyslogSink(config: config)
        defer { sink.stop() }
        let ts = Self.transitions(text: "421 one\ntwo \"three\" alert=resolve")
        #expect(ts.map(\.state) == [.open, .escalate, .resolve])
        for t in ts { sink.write(t) }
        #expect(sink.flush(timeout: 10))
        let lines = server.waitForLines(3)
        #expect(lines.count == 3, "\(lines)")
        guard lines.count == 3 else { return }
        #expect(lines[0].hasPrefix("mail.warning deferwatch alert=open "), "\(lines[0])")
        #expect(lines[1].hasPrefix("mail.crit deferwatch alert=escalate "), "\(lines[1])")
        #expect(lines[2].hasPrefix("mail.notice deferwatch alert=resolve "), "\(lines[2])")
        #expect(lines[0].contains(#"sample="421 one\ntwo \"three\" alert=resolve""#), "\(lines[0])")
        #expect(sink.currentStats.sent == 3)
        #expect(sink.currentStats.dropped == 0)
    }

    @Test(.enabled(if: RsyslogServer.isAvailable || ProcessInfo.processInfo.environment["CI"] != nil, "rsyslogd is not installed"))
    func rfc5424AndAnotherFacility() throws {
        let server = try RsyslogServer(rfc5424: true)
        defer { server.stop() }
        var config = SyslogConfig()
        config.socket = server.socket.path
        config.format = .rfc5424
        config.facility = "local3"
        let sink = SyslogSink(config: config)
        defer { sink.stop() }
        sink.write(Self.transitions()[0])
        #expect(sink.flush(timeout: 10))
        let lines = server.waitForLines(1)
        #expect(lines.first?.hasPrefix("local3.warning deferwatch alert=open") == true, "\(lines)")
    }

    /// No socket: nothing blocks, the queue bound holds, the loss is counted; once syslog
    /// appears, what was queued is delivered.
    @Test(.enabled(if: RsyslogServer.isAvailable || ProcessInfo.processInfo.environment["CI"] != nil, "rsyslogd is not installed"))
    func missingSocketQueuesBoundedThenDelivers() throws {
        let dir = TestPaths.temporaryDirectory("nosyslog")
        let path = dir.appendingPathComponent("log.sock")
        var config = SyslogConfig()
        config.socket = path.path
        config.queue = 50
        let sink = SyslogSink(config: config)
        defer { sink.stop(timeout: 0) }
        let t = Self.transitions()[0]
        for _ in 0..<5000 { sink.write(t) }
        let stats = sink.currentStats
        #expect(stats.queued == 50)
        #expect(stats.dropped == 4950)
        #expect(stats.sent == 0)
        #expect(!sink.flush(timeout: 0.3))
        #expect(sink.currentStats.lastError?.contains("No such file or directory") == true, "\(String(describing: sink.currentStats.lastError))")

        let server = try RsyslogServer(socketPath: path)
        defer { server.stop() }
        #expect(sink.flush(timeout: 15))
        let lines = server.waitForLines(50)
        #expect(lines.count == 50)
        #expect(sink.currentStats.sent == 50)
    }

    /// A socket whose reader never reads fills up: the sink keeps accepting, drops the
    /// oldest beyond its bound and says so.
    @Test func stuckSocketNeverBlocks() throws {
        let dir = TestPaths.temporaryDirectory("stuck")
        let path = dir.appendingPathComponent("stuck.sock").path
        let fd = bindDatagramSocket(path: path)
        #expect(fd >= 0)
        defer { close(fd) }
        var config = SyslogConfig()
        config.socket = path
        config.queue = 100
        let sink = SyslogSink(config: config)
        defer { sink.stop(timeout: 0) }
        let t = Self.transitions()[0]
        for _ in 0..<20_000 { sink.write(t) }
        _ = sink.flush(timeout: 1)
        let s = sink.currentStats
        #expect(s.sent > 0, "some datagrams fit in the socket buffer")
        #expect(s.queued <= 100)
        #expect(s.dropped > 0)
        #expect(s.sent + s.queued + s.dropped == 20_000)
        #expect(s.lastError?.contains("Resource temporarily unavailable") == true, "\(String(describing: s.lastError))")
    }
}

/// The queue of a sink whose socket is gone stays bounded in count and in bytes, and the
/// producer trims it: the stuck sender never gets to.
@Suite struct SyslogQueueBoundTests {
    @Test func aMissingSocketKeepsTheQueueBoundedInMemory() throws {
        var config = SyslogConfig()
        config.socket = TestPaths.temporaryDirectory("syslog").appendingPathComponent("absent.sock").path
        config.queue = 1000
        config.queueBytes = 1 << 20
        let sink = SyslogSink(config: config)
        defer { sink.stop(timeout: 0) }
        let message = [UInt8](repeating: UInt8(ascii: "x"), count: 1500)
        for _ in 0..<160_000 { sink.enqueue(message) }
        let s = sink.currentStats
        #expect(s.queued <= 1000)
        #expect(s.queuedBytes <= 1 << 20, "\(s.queuedBytes) bytes waiting")
        #expect(s.storedMessages <= 2 * 1000 + 1024, "\(s.storedMessages) messages held, dropped ones included")
        #expect(s.sent + s.dropped + s.queued == 160_000)
        #expect(s.lastError?.contains("absent.sock") == true)
    }
}

/// The watermark never passes a line still to be written: a drop while a line is in flight
/// (syslog down) must not mark the lines before it as written.
@Suite struct SyslogWatermarkTests {
    @Test func aDropWhileALineIsInFlightKeepsTheWatermark() throws {
        let dir = TestPaths.temporaryDirectory("syslog")
        var config = SyslogConfig()
        config.socket = dir.appendingPathComponent("absent.sock").path
        config.queue = 2
        let sink = SyslogSink(config: config, watermark: dir.appendingPathComponent("syslog-written").path)
        defer { sink.stop(timeout: 0) }
        sink.enqueue(Array("one".utf8), seq: 1)
        usleep(200_000) // taken by the sender, retried while the socket is missing
        for n in 2...6 { sink.enqueue(Array("line \(n)".utf8), seq: Int64(n)) }
        #expect(sink.currentStats.dropped > 0)
        #expect(sink.writtenThrough == 0, "watermark \(sink.writtenThrough) passed line 1, never written")
    }
}
