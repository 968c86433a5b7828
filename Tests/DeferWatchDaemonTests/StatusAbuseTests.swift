import DeferWatchDaemon
import DeferWatchTestSupport
import Foundation
import Synchronization
import Testing

/// Hostile clients while the pipeline reads a large log: a thousand concurrent connections
/// (valid requests, garbage, requests never finished, silent ones), a 10 MB request. The
/// daemon keeps serving, its descriptors come back, and its results equal a quiet run's.
@Suite(.serialized) struct StatusAbuseTests {
    typealias Daemon = DaemonProcessTests

    struct Outcome: Sendable {
        var counters: [String: Int]
        var alerts: [String]
    }

    static let requested = 600_000

    /// Runs the daemon over the whole log (first start with a long lookback) and returns
    /// its counters and the alert transitions of the log's own time.
    static func run(log: URL, lines: Int, abuse: ((Daemon.Setup, Int32) -> Void)?) throws -> Outcome {
        let s = try Daemon.setup(sources: "lookback = \"3650d\"", status: "request_timeout = \"1s\"")
        try FileManager.default.copyItem(at: log, to: s.log)
        let out = s.dir.appendingPathComponent("alerts.jsonl")
        let p = try Daemon.start(s, stdout: out)
        defer { ProcessRunner.stop(p) }
        abuse?(s, p.processIdentifier)
        var counters: [String: Any]?
        for _ in 0..<1200 {
            counters = Daemon.counters(s)
            if counters?["lines"] as? Int == lines { break }
            usleep(50_000)
        }
        ProcessRunner.stop(p)
        counters = Daemon.counters(s)
        let text = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
        let alerts = text.split(separator: "\n").map(String.init).filter { $0.contains("\"time\":\"2026-01-0") }
        var c: [String: Int] = [:]
        for (k, v) in counters ?? [:] { if let n = v as? Int { c[k] = n } }
        return Outcome(counters: c, alerts: alerts)
    }

    final class Tally: Sendable {
        let counts = Mutex<[String: Int]>([:])
        func add(_ k: String) { counts.withLock { $0[k, default: 0] += 1 } }
        subscript(_ k: String) -> Int { counts.withLock { $0[k] ?? 0 } }
    }

    static func connect(_ path: String) -> Int32 { connectStreamSocket(path: path) }

    static func send(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            sent += n
        }
        return true
    }

    /// Reads the answer's status line (nil: closed without one).
    static func status(_ fd: Int32) -> Int? {
        var buf = [UInt8](repeating: 0, count: 4096)
        var got: [UInt8] = []
        while got.count < 12 {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            got += buf[0..<n]
        }
        let line = String(decoding: got.prefix(12), as: UTF8.self)
        guard line.hasPrefix("HTTP/1.1 ") else { return nil }
        return Int(line.dropFirst(9).prefix(3))
    }

    static func openDescriptors(_ pid: Int32) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
    }

    /// What the abuse run saw, for the expectations on the test's own task.
    struct Seen: Sendable {
        var generated: ProcessResult
        var written: Int
        var quiet: Outcome
        var loud: Outcome
        var tally: [String: Int]
        var before: Int
        var afterwards: Int
        var servedAfter: Int?
    }

    @Test(.enabled(if: TestPaths.genlog != nil, "../shared/bench/genlog.py is not there"))
    func hostileClientsChangeNothing() async throws {
        // Two daemons reading 600,000 lines and a thousand clients: off the test pool.
        let seen = try await onOwnThread { try Self.abuse() }
        print("abuse: \(seen.tally.sorted { $0.key < $1.key }), descriptors \(seen.before) before, \(seen.afterwards) after")
        #expect(seen.generated.status == 0, "\(seen.generated.stderr)")
        #expect(seen.servedAfter == 200)
        #expect(seen.tally["valid-200", default: 0] > 0)
        #expect(seen.tally["held-408", default: 0] > 0)
        #expect(seen.tally["big-200", default: 0] == 0)
        #expect(seen.afterwards <= seen.before + 2, "descriptors: \(seen.before) before the abuse, \(seen.afterwards) after")
        #expect(seen.quiet.counters["lines"] == seen.written)
        #expect(seen.loud.counters == seen.quiet.counters)
        #expect(!seen.quiet.alerts.isEmpty)
        #expect(seen.loud.alerts == seen.quiet.alerts)
    }

    static func abuse() throws -> Seen {
        var lim = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim)
        lim.rlim_cur = min(lim.rlim_max, 8192)
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim)

        let dir = TestPaths.temporaryDirectory("abuse")
        let log = dir.appendingPathComponent("big.log")
        let gen = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/python3"),
                                        [TestPaths.genlog!.path, "--lines", String(Self.requested), "--seed", "11",
                                         "--timestamps", "rfc3339", "--start", "2026-01-01T00:00:00Z", "--out", log.path])
        let written = try String(contentsOf: log, encoding: .utf8).utf8.reduce(0) { $0 + ($1 == 10 ? 1 : 0) }

        let quiet = try Self.run(log: log, lines: written, abuse: nil)
        let tally = Tally()
        var before = 0
        var afterwards = 0
        var servedAfter: Int?
        let loud = try Self.run(log: log, lines: written) { s, pid in
            let path = s.dir.appendingPathComponent("status.sock").path
            // Not a fixed wait: on a loaded machine the start has taken over two seconds,
            // and then every one of the thousand connections was refused.
            _ = Daemon.waitUntilStarted(s) // if it never starts, every connection fails and says so
            before = Self.openDescriptors(pid)
            // The 10 MB request, on its own thread.
            let bigDone = DispatchSemaphore(value: 0)
            DispatchQueue.global().async {
                defer { bigDone.signal() }
                let fd = Self.connect(path)
                guard fd >= 0 else { tally.add("big-refused"); return }
                let ok = Self.send(fd, Array("GET /v1/status HTTP/1.1\r\nX-Filler: ".utf8) + [UInt8](repeating: 97, count: 10 << 20))
                tally.add(ok ? "big-sent" : "big-cut")
                tally.add("big-\(Self.status(fd).map(String.init) ?? "closed")")
                close(fd)
            }
            // A thousand clients at once, in ten threads.
            DispatchQueue.concurrentPerform(iterations: 10) { t in
                var held: [Int32] = []
                for i in 0..<100 {
                    let fd = Self.connect(path)
                    guard fd >= 0 else { tally.add("connect-failed"); continue }
                    switch (t * 100 + i) % 4 {
                    case 0:
                        _ = Self.send(fd, Array("GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
                        tally.add("valid-\(Self.status(fd).map(String.init) ?? "closed")")
                        close(fd)
                    case 1:
                        var g = SystemRandomNumberGenerator()
                        _ = Self.send(fd, (0..<2048).map { _ in UInt8.random(in: 0...255, using: &g) })
                        tally.add("garbage-\(Self.status(fd).map(String.init) ?? "closed")")
                        close(fd)
                    case 2:
                        _ = Self.send(fd, Array("GET /v1/status HTTP/1.1\r\nHost: x\r\n".utf8)) // never finished
                        held.append(fd)
                    default:
                        held.append(fd) // silent
                    }
                }
                for fd in held {
                    tally.add("held-\(Self.status(fd).map(String.init) ?? "closed")")
                    close(fd)
                }
            }
            bigDone.wait()
            // Timed-out clients are gone (request_timeout is 1 s); the daemon answers as before.
            _ = eventually(timeout: 15, every: 100_000) { Self.openDescriptors(pid) <= before + 2 }
            afterwards = Self.openDescriptors(pid)
            servedAfter = (try? StatusClient.get(socket: path, target: "/v1/status"))?.status
        }
        return Seen(generated: gen, written: written, quiet: quiet, loud: loud, tally: tally.counts.withLock { $0 },
                    before: before, afterwards: afterwards, servedAfter: servedAfter)
    }
}
