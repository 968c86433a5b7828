import DeferWatchCore
import DeferWatchDaemon
import DeferWatchTestSupport
import Foundation
import Testing

/// The status socket through a real socket and the real binary: every endpoint against a
/// log with known counts, the `status` command in both forms, permissions, a live or stale
/// instance on the path.
@Suite(.serialized) struct StatusSocketTests {
    typealias Daemon = DaemonProcessTests

    static func get(_ s: Daemon.Setup, _ target: String) throws -> (status: Int, json: [String: Any], body: String) {
        let a = try StatusClient.get(socket: s.dir.appendingPathComponent("status.sock").path, target: target)
        let json = (try? JSONSerialization.jsonObject(with: Data(a.body))) as? [String: Any] ?? [:]
        return (a.status, json, String(decoding: a.body, as: UTF8.self))
    }

    static func socketPath(_ s: Daemon.Setup) -> String { s.dir.appendingPathComponent("status.sock").path }

    /// Waits until the daemon's snapshot shows `lines` lines read.
    static func waitForLines(_ s: Daemon.Setup, _ lines: Int) -> Bool {
        eventually(every: 50_000) {
            guard let r = try? get(s, "/v1/status"), r.status == 200 else { return false }
            return (r.json["lines"] as? [String: Any])?["total"] as? Int == lines
        }
    }

    /// 30 Gmail rate-limit deferrals, 10 Outlook reputation deferrals, 40 deliveries to
    /// Gmail: at the current time, so the window holds them all.
    static func knownLog() -> String {
        var text = ""
        for i in 0..<30 { text += Daemon.nowLine(i, sent: false) }
        for i in 30..<70 { text += Daemon.nowLine(i, sent: true) }
        for i in 70..<80 {
            let t = CivilTimeText.now()
            text += "\(t) mx1 postfix/smtp[2]: \(String(format: "C%09X", i)): to=<u\(i)@outlook.com>, relay=outlook-com.olc.protection.outlook.com[52.101.11.3]:25, delay=1, delays=0/0/0/1, dsn=4.7.650, status=deferred (host outlook-com.olc.protection.outlook.com[52.101.11.3] said: 451 4.7.650 The mail server [203.0.113.25] has been temporarily rate limited due to IP reputation. (in reply to MAIL FROM command))\n"
        }
        return text
    }

    /// A daemon that has read `knownLog()` (`extra`: more of its configuration).
    static func startWithKnownLog(extra: String = "") throws -> (Daemon.Setup, Process) {
        let s = try Daemon.setup(extra: extra)
        let p = try Daemon.start(s)
        let started = Daemon.waitUntilStarted(s)
        if !started { ProcessRunner.stop(p) }
        try #require(started, "the daemon did not start")
        Daemon.append(s.log, Self.knownLog())
        #expect(Self.waitForLines(s, 80))
        return (s, p)
    }

    @Test func everyEndpointAnswersFromTheLog() throws {
        let (s, p) = try Self.startWithKnownLog()
        defer { ProcessRunner.stop(p) }
        // The snapshot with the alerts of the last lines (snapshots come once a second).
        _ = eventually(every: 50_000) { ((try? Self.get(s, "/v1/status"))?.json["alerts"] as? [Any])?.count == 2 }

        let status = try Self.get(s, "/v1/status")
        #expect(status.status == 200)
        #expect(status.json["schema_version"] as? Int == 2)
        #expect(status.json["version"] as? String == DeferWatchVersion.string)
        let totals = status.json["attempts"] as? [String: Any]
        #expect(totals?["total"] as? Int == 80 && totals?["sent"] as? Int == 40 && totals?["deferred"] as? Int == 40, "\(totals ?? [:])")
        let attempts = (status.json["attempts_by_mta"] as? [[String: Any]]) ?? []
        func attempt(_ st: String) -> Int? { attempts.first { $0["mta"] as? String == "postfix" && $0["status"] as? String == st }?["count"] as? Int }
        #expect(attempt("sent") == 40)
        #expect(attempt("deferred") == 40)
        let deferrals = (status.json["deferrals"] as? [[String: Any]]) ?? []
        #expect(deferrals.contains { $0["provider"] as? String == "google" && $0["cause"] as? String == "rate_limit" && $0["count"] as? Int == 30 })
        #expect(deferrals.contains { $0["provider"] as? String == "microsoft" && $0["cause"] as? String == "reputation" && $0["count"] as? Int == 10 })
        let alerts = (status.json["alerts"] as? [[String: Any]]) ?? []
        #expect(alerts.contains { $0["cause"] as? String == "rate_limit" && $0["provider"] as? String == "google" }, "\(alerts)")
        #expect(alerts.contains { $0["cause"] as? String == "reputation" && $0["provider"] as? String == "microsoft" }, "\(alerts)")
        #expect((status.json["destinations"] as? [Any])?.count ?? 0 <= 10)

        let rep = try Self.get(s, "/v1/destinations?cause=reputation")
        let repList = (rep.json["destinations"] as? [[String: Any]]) ?? []
        #expect(!repList.isEmpty && repList.allSatisfy { $0["provider"] as? String == "microsoft" }, "\(rep.body)")
        let google = try Self.get(s, "/v1/destinations?provider=google&limit=100")
        let gList = (google.json["destinations"] as? [[String: Any]]) ?? []
        #expect(Set(gList.compactMap { $0["key"] as? String }) == ["google", "gmail.com", "gmail-smtp-in.l.google.com"], "\(google.body)")
        #expect(google.json["schema_version"] as? Int == 2)
        #expect(gList.allSatisfy { ($0["attempts"] as? [String: Any])?["deferred"] as? Int == 30 })
        #expect(((try Self.get(s, "/v1/destinations?limit=1")).json["destinations"] as? [Any])?.count == 1)

        let gmail = try Self.get(s, "/v1/destinations/gmail.com")
        let gd = (gmail.json["destinations"] as? [[String: Any]])?.first
        // The same names as analyze --json's destinations: attempts {total, deferred}, deferred_share.
        #expect(gd?["attempts"] as? [String: Int] == ["total": 70, "deferred": 30], "\(gd ?? [:])")
        #expect(gd?["deferred_share"] as? Double == 0.429)
        #expect(gd?["deferrals"] == nil && gd?["share"] == nil)
        #expect((gd?["causes"] as? [[String: Any]])?.first?["cause"] as? String == "rate_limit")
        #expect(!((gmail.json["alerts"] as? [Any]) ?? []).isEmpty)
        #expect(try Self.get(s, "/v1/destinations/quiet.example").status == 404)

        let metrics = try Self.get(s, "/metrics")
        #expect(metrics.status == 200)
        #expect(metrics.body.contains("deferwatch_attempts_total{mta=\"postfix\",status=\"deferred\"} 40\n"))
        #expect(metrics.body.contains("deferwatch_deferrals_total{provider=\"google\",cause=\"rate_limit\"} 30\n"))
        #expect(metrics.body.contains("deferwatch_domain_deferrals{domain=\"gmail.com\",cause=\"rate_limit\"} 30\n"))
        #expect(metrics.body.contains("deferwatch_open_alerts{cause=\"rate_limit\",severity=\"warning\"} 1\n"))
        #expect(metrics.body.contains("deferwatch_lines_total{program=\"postfix\"} 80\n"))

        // Errors are answers, not crashes.
        #expect(try Self.get(s, "/v1/destinations?cause=sunspots").status == 400)
        #expect(try Self.get(s, "/v1/destinations?colour=red").status == 400)
        #expect(try Self.get(s, "/v1/destinations?limit=-3").status == 400)
        #expect(try Self.get(s, "/v2/everything").status == 404)
        #expect(try Self.get(s, "/v1/alerts").status == 200)

        // The command line, both forms.
        let sock = Self.socketPath(s)
        let text = try ProcessRunner.deferwatch(["status", "--socket", sock])
        #expect(text.status == 0)
        #expect(text.stdoutText.contains("Open alerts (2)"), "\(text.stdoutText)")
        #expect(text.stdoutText.contains("Attempts: 80 (sent 40, deferred 40"), "\(text.stdoutText)")
        #expect(text.stdoutText.contains("domain gmail.com"), "\(text.stdoutText)")
        let json = try ProcessRunner.deferwatch(["status", "--socket", sock, "--json"])
        let decoded = try JSONSerialization.jsonObject(with: json.stdout) as? [String: Any]
        #expect((decoded?["lines"] as? [String: Any])?["total"] as? Int == 80)
        let dest = try ProcessRunner.deferwatch(["status", "destination", "gmail.com", "--socket", sock])
        #expect(dest.status == 0)
        #expect(dest.stdoutText.contains("30 deferrals of 70 attempts"), "\(dest.stdoutText)")
        let filtered = try ProcessRunner.deferwatch(["status", "destinations", "--cause", "reputation", "--socket", sock])
        #expect(filtered.stdoutText.contains("outlook.com") && !filtered.stdoutText.contains("gmail.com"), "\(filtered.stdoutText)")
        let alertsText = try ProcessRunner.deferwatch(["status", "alerts", "--socket", sock])
        #expect(alertsText.stdoutText.contains("fix: "), "\(alertsText.stdoutText)")
        let missing = try ProcessRunner.deferwatch(["status", "destination", "quiet.example", "--socket", sock])
        #expect(missing.status == 4)
    }

    /// `status trace` and /v1/trace: a message followed through the lines the running
    /// daemon keeps, as `deferwatch trace --from` follows it through the file.
    @Test func statusTraceFollowsAMessageThroughTheDaemonsMemory() throws {
        let s = try Daemon.setup()
        let p = try Daemon.start(s)
        defer { ProcessRunner.stop(p) }
        try #require(Daemon.waitUntilStarted(s), "the daemon did not start")
        // The hand-checked log of TraceCommandTests, at the current time.
        let now = CivilTimeText.now()
        let log = TraceCommandTests.postfix.split(separator: "\n").map { now + $0.drop { $0 != " " } + "\n" }.joined()
        Daemon.append(s.log, log)
        #expect(Self.waitForLines(s, 11))
        let sock = Self.socketPath(s)
        let text = try ProcessRunner.deferwatch(["status", "trace", "Ann@Gmail.com", "--socket", sock])
        #expect(text.status == 0, "\(text.stderr)")
        let out = text.stdoutText
        #expect(out.hasPrefix("message 4AbC12dEfG on mx1 (postfix)\n  sender      <shop@example.org>\n  message-id  <order-77@example.org>\n"), "\(out)")
        #expect(out.contains("  received  client=app.example.org[192.0.2.4]"), "\(out)")
        #expect(out.contains("  deferred to=<ann@gmail.com> relay=gmail-smtp-in.l.google.com dsn=4.7.28 cause=rate_limit"), "\(out)")
        #expect(out.contains("  bounced to=<ann@gmail.com> relay=gmail-smtp-in.l.google.com dsn=5.7.1 cause=content"), "\(out)")
        #expect(out.contains("outcome     1 bounced, 1 deferred attempts; left the queue"), "\(out)")
        #expect(out.contains("message 6BoUnCe123 on mx1 (postfix), the bounce of 4AbC12dEfG"), "\(out)")
        // The bounce's delivery shows its recipient (the daemon keeps deliveries' recipients for it).
        #expect(out.contains("  sent to=<shop@example.org> relay=local dsn=2.0.0"), "\(out)")
        #expect(!out.contains("5ZzZ99yYxX"))
        #expect(out.contains("(from the daemon's memory: 11 lines kept since "), "\(out)")

        let json = try Self.get(s, "/v1/trace?q=%3Corder-77%40example.org%3E")
        #expect(json.status == 200, "\(json.body)")
        let traces = json.json["traces"] as? [[String: Any]] ?? []
        #expect(traces.map { $0["id"] as? String } == ["4AbC12dEfG", "6BoUnCe123"])
        let steps = traces.first?["steps"] as? [[String: Any]] ?? []
        #expect(steps.map { $0["kind"] as? String ?? "" } == ["received", "message-id", "queued", "deferred", "bounced", "bounce-created", "removed"])
        #expect((json.json["memory"] as? [String: Any])?["lines"] as? Int == 11)
        let cli = try ProcessRunner.deferwatch(["status", "trace", "4AbC12dEfG", "--json", "--socket", sock])
        #expect((try JSONSerialization.jsonObject(with: cli.stdout) as? [String: Any])?["traces"] != nil)

        let none = try ProcessRunner.deferwatch(["status", "trace", "nobody@example.com", "--socket", sock])
        #expect(none.status == 4)
        #expect(none.stderr.contains("no message in the daemon's recent lines (11 lines kept since"), "\(none.stderr)")
        #expect(try Self.get(s, "/v1/trace").status == 400)
        #expect(try Self.get(s, "/v1/trace?q=x&limit=0").status == 400)
        #expect(try Self.get(s, "/v1/trace?q=x&format=xml").status == 400)
        #expect(try Self.get(s, "/v1/trace?q=x&colour=red").status == 400)
    }

    /// With `trace_bytes = 0` nothing is kept, and /v1/trace says so.
    @Test func noRecentLinesNoTrace() throws {
        let s = try Daemon.setup(status: "trace_bytes = 0")
        let p = try Daemon.start(s)
        defer { ProcessRunner.stop(p) }
        try #require(Daemon.waitUntilStarted(s), "the daemon did not start")
        let r = try ProcessRunner.deferwatch(["status", "trace", "4AbC12dEfG", "--socket", Self.socketPath(s)])
        #expect(r.status == 4)
        #expect(r.stderr.contains("trace_bytes = 0"), "\(r.stderr)")
    }

    /// The optional TCP listener: 127.0.0.1 only, /metrics only.
    @Test func metricsPortServesMetricsOnly() throws {
        let port = Int.random(in: 20_000...60_000)
        let s = try Daemon.setup(status: "metrics_port = \(port)")
        let p = try Daemon.start(s)
        defer { ProcessRunner.stop(p) }
        #expect(Self.waitForLines(s, 0))
        func tcpGet(_ target: String) -> String {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            let r = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard r == 0 else { return "connect failed" }
            let req = "GET \(target) HTTP/1.1\r\nHost: x\r\n\r\n"
            _ = req.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
            var out: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { break }
                out += buf[0..<n]
            }
            return String(decoding: out, as: UTF8.self)
        }
        let metrics = tcpGet("/metrics")
        #expect(metrics.hasPrefix("HTTP/1.1 200"), "\(metrics.prefix(200))")
        #expect(metrics.contains("deferwatch_lines_total"))
        #expect(tcpGet("/v1/status").hasPrefix("HTTP/1.1 404"))
    }

    @Test func notRunningSaysSoAndHow() throws {
        let dir = TestPaths.temporaryDirectory()
        let r = try ProcessRunner.deferwatch(["status", "--socket", dir.appendingPathComponent("none.sock").path])
        #expect(r.status == 3)
        #expect(r.stderr.contains("deferwatch is not running"), "\(r.stderr)")
        #expect(r.stderr.contains("systemctl start deferwatch"), "\(r.stderr)")
    }

    @Test func socketModeAndGroupAreTheConfiguredOnes() throws {
        var mode = stat()
        let s = try Daemon.setup()
        let p = try Daemon.start(s)
        #expect(Self.waitForLines(s, 0))
        #expect(stat(Self.socketPath(s), &mode) == 0)
        #expect(mode.st_mode & 0o777 == 0o660)
        ProcessRunner.stop(p)
        #expect(access(Self.socketPath(s), F_OK) != 0, "the socket is removed on exit")

        let group = getuid() == 0 ? "\nsocket_group = \"65534\"" : ""
        let t = try Daemon.setup(status: "socket_mode = \"0600\"\(group)")
        let q = try Daemon.start(t)
        defer { ProcessRunner.stop(q) }
        #expect(Self.waitForLines(t, 0))
        #expect(stat(Self.socketPath(t), &mode) == 0)
        #expect(mode.st_mode & 0o777 == 0o600)
        if getuid() == 0 { #expect(mode.st_gid == 65534) }
    }

    @Test func aLiveInstanceIsRefusedAStaleSocketReplaced() throws {
        let a = try Daemon.setup()
        let pa = try Daemon.start(a)
        defer { ProcessRunner.stop(pa) }
        #expect(Self.waitForLines(a, 0))
        // A second daemon on the same socket path (its own state) must not start.
        let b = try Daemon.setup()
        var config = try String(contentsOf: b.config, encoding: .utf8)
        config = config.replacingOccurrences(of: Self.socketPath(b), with: Self.socketPath(a))
        try config.write(to: b.config, atomically: true, encoding: .utf8)
        let r = try ProcessRunner.deferwatch(["run", "--config", b.config.path])
        #expect(r.status == 1)
        #expect(r.stderr.contains("another deferwatch (pid \(pa.processIdentifier)) is running"), "\(r.stderr)")
        #expect(try Self.get(a, "/v1/status").status == 200, "the first one still answers")

        // A socket left by a crash: replaced.
        let c = try Daemon.setup()
        close(bindUnixSocket(path: Self.socketPath(c), type: SOCK_STREAM))
        #expect(access(Self.socketPath(c), F_OK) == 0)
        let pc = try Daemon.start(c)
        defer { ProcessRunner.stop(pc) }
        #expect(Self.waitForLines(c, 0))

        // Not a socket: left alone, and said.
        let d = try Daemon.setup()
        try "precious".write(toFile: Self.socketPath(d), atomically: true, encoding: .utf8)
        let rd = try ProcessRunner.deferwatch(["run", "--config", d.config.path])
        #expect(rd.status == 1)
        #expect(rd.stderr.contains("is not a socket"), "\(rd.stderr)")
        #expect(try String(contentsOfFile: Self.socketPath(d), encoding: .utf8) == "precious")
    }
}

/// promtool (from Debian's prometheus package, unpacked by scripts/test) lints /metrics and
/// the example alerting rules.
@Suite struct PrometheusTests {
    static var promtool: String? {
        let candidates: [String?] = [ProcessInfo.processInfo.environment["DEFERWATCH_PROMTOOL"], "/usr/bin/promtool",
                          TestPaths.packageRoot.appendingPathComponent(".build/tools/usr/bin/promtool").path]
        return candidates.compactMap { $0 }.first { access($0, X_OK) == 0 }
    }

    /// The shipped rules pass their unit tests (Tests/Prometheus/rules_test.yml), and every
    /// rule has one.
    @Test(.enabled(if: promtool != nil || ProcessInfo.processInfo.environment["CI"] != nil, "promtool is not there"))
    func everyRuleHasAPassingUnitTest() throws {
        let tool = try #require(Self.promtool, "promtool is needed in CI (scripts/test unpacks it)")
        let tests = TestPaths.packageRoot.appendingPathComponent("Tests/Prometheus/rules_test.yml")
        let r = try ProcessRunner.run(URL(fileURLWithPath: tool), ["test", "rules", tests.path])
        #expect(r.status == 0, "\(r.stdoutText)\(r.stderr)")
        let rules = try String(contentsOf: TestPaths.packageRoot.appendingPathComponent("Config/prometheus-rules.yml"), encoding: .utf8)
        let testText = try String(contentsOf: tests, encoding: .utf8)
        let names = rules.split(separator: "\n").compactMap { line -> String? in
            let t = line.trimmingCharacters(in: .whitespaces)
            return t.hasPrefix("- alert: ") ? String(t.dropFirst("- alert: ".count)) : nil
        }
        #expect(names.count >= 9)
        for n in names { #expect(testText.contains("alertname: \(n)\n"), "no unit test fires or checks \(n)") }
    }

    @Test(.enabled(if: promtool != nil || ProcessInfo.processInfo.environment["CI"] != nil, "promtool is not there"))
    func metricsAndRulesPassPromtool() throws {
        let tool = try #require(Self.promtool, "promtool is needed in CI (scripts/test unpacks it)")
        let rules = try ProcessRunner.run(URL(fileURLWithPath: tool), ["check", "rules",
                                          TestPaths.packageRoot.appendingPathComponent("Config/prometheus-rules.yml").path])
        #expect(rules.status == 0, "\(rules.stdoutText)\(rules.stderr)")

        let (s, p) = try StatusSocketTests.startWithKnownLog()
        defer { ProcessRunner.stop(p) }
        let metrics = try StatusSocketTests.get(s, "/metrics")
        let check = try ProcessRunner.run(URL(fileURLWithPath: tool), ["check", "metrics"], stdin: Data(metrics.body.utf8))
        #expect(check.status == 0, "\(check.stdoutText)\(check.stderr)\n\(metrics.body)")
    }
}
