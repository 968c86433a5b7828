import DeferWatchTestSupport
import Foundation
import Testing

/// `deferwatch run` as a whole process: a temp directory, a followed file, a real rsyslogd.
@Suite(.serialized) struct DaemonProcessTests {
    struct Setup {
        var dir: URL
        var log: URL
        var config: URL
        var state: URL
        var socket: String
    }

    static func setup(socket: String? = nil) throws -> Setup {
        let dir = TestPaths.temporaryDirectory("daemon")
        let log = dir.appendingPathComponent("mail.log")
        let state = dir.appendingPathComponent("state")
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
        let sock = socket ?? dir.appendingPathComponent("no-syslog.sock").path
        let config = dir.appendingPathComponent("deferwatch.toml")
        try """
        [sources]
        journal = false
        files = ["\(log.path)"]
        poll_interval = "50ms"
        [state]
        directory = "\(state.path)"
        checkpoint_every = "200ms"
        [syslog]
        socket = "\(sock)"

        """.write(to: config, atomically: true, encoding: .utf8)
        return Setup(dir: dir, log: log, config: config, state: state, socket: sock)
    }

    static func start(_ s: Setup) throws -> Process {
        let p = Process()
        p.executableURL = TestPaths.binary
        p.arguments = ["run", "--config", s.config.path]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    static func append(_ url: URL, _ text: String) {
        let fd = open(url.path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        _ = text.withCString { write(fd, $0, strlen($0)) }
        close(fd)
    }

    static func counters(_ s: Setup) -> [String: Any]? {
        guard let d = FileManager.default.contents(atPath: s.state.appendingPathComponent("checkpoints.json").path),
              let j = try? JSONSerialization.jsonObject(with: d) as? [String: Any] else { return nil }
        return j["counters"] as? [String: Any]
    }

    static func line(_ i: Int) -> String {
        let qid = String(format: "%010X", i)
        return "Nov 28 10:\(String(format: "%02d", (i / 60) % 60)):\(String(format: "%02d", i % 60)) mx1 postfix/smtp[1]: \(qid): to=<u\(i)@example.org>, relay=mx.example.org[192.0.2.10]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)\n"
    }

    /// Alerts of the sample log reach a real rsyslogd's file with the right priority.
    @Test(.enabled(if: RsyslogServer.isAvailable || ProcessInfo.processInfo.environment["CI"] != nil, "rsyslogd is not installed"))
    func alertsReachRsyslog() throws {
        let server = try RsyslogServer()
        defer { server.stop() }
        let s = try Self.setup(socket: server.socket.path)
        let p = try Self.start(s)
        defer { ProcessRunner.stop(p) }
        usleep(300_000)
        let sample = try String(contentsOf: TestPaths.packageRoot.appendingPathComponent("samples/mail.log"), encoding: .utf8)
        Self.append(s.log, sample)
        let lines = server.waitForLines(3, timeout: 20)
        #expect(lines.contains { $0.hasPrefix("mail.warning deferwatch alert=open ") && $0.contains("domain=gmail.com") }, "\(lines)")
        #expect(lines.contains { $0.hasPrefix("mail.notice deferwatch alert=resolve ") }, "\(lines)")
        ProcessRunner.stop(p)
        #expect(p.terminationStatus == 0)
    }

    /// SIGKILL at random points while lines are written, restart, again and again: at the
    /// end every line was counted exactly once.
    @Test func killNineAndRestartCountsEveryLineOnce() throws {
        let s = try Self.setup()
        var written = 0
        var rng = SystemRandomNumberGenerator()
        let cycles = 12
        for cycle in 0..<cycles {
            let p = try Self.start(s)
            if cycle == 0 {
                // A first start begins at the end of the log: write only once it has started.
                for _ in 0..<200 where Self.counters(s) == nil { usleep(20_000) }
            }
            let bursts = Int.random(in: 3...8, using: &rng)
            for _ in 0..<bursts {
                var chunk = ""
                for _ in 0..<Int.random(in: 50...400, using: &rng) {
                    chunk += Self.line(written)
                    written += 1
                }
                Self.append(s.log, chunk)
                usleep(UInt32.random(in: 10_000...120_000, using: &rng))
            }
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
        // A last run that is allowed to finish reading, then stops gracefully.
        let p = try Self.start(s)
        var last: [String: Any]?
        for _ in 0..<200 {
            usleep(50_000)
            last = Self.counters(s)
            if (last?["deliveries"] as? Int) == written { break }
        }
        ProcessRunner.stop(p)
        last = Self.counters(s)
        print("exactly-once: \(cycles) SIGKILL cycles, \(written) lines written, counted \(String(describing: last?["deliveries"])) (state in \(s.state.path))")
        #expect(last?["lines"] as? Int == written)
        #expect(last?["deliveries"] as? Int == written)
    }
}
