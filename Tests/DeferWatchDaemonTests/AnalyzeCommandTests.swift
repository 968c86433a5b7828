import DeferWatchCore
import DeferWatchTestSupport
import Foundation
import Testing

/// `deferwatch analyze` and `classify` as a user runs them: the built binary, real files.
@Suite struct AnalyzeCommandTests {
    static let good = """
    Nov 28 10:00:00 mx1 postfix/smtp[1]: ABCDEF1234: to=<a@gmail.com>, relay=gmail-smtp-in.l.google.com[142.250.102.27]:25, delay=1, delays=0/0/0/1, dsn=4.7.28, status=deferred (host gmail-smtp-in.l.google.com[142.250.102.27] said: 421-4.7.28 Our system has detected an unusual rate of unsolicited mail originating from your IP address. - gsmtp (in reply to end of DATA command))
    Nov 28 10:00:01 mx1 postfix/smtp[1]: ABCDEF1235: to=<b@example.org>, relay=mx.example.org[192.0.2.10]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)

    """

    func json(_ r: ProcessResult) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: r.stdout) as! [String: Any]
    }

    func attempts(_ j: [String: Any]) -> Int { (j["attempts"] as! [String: Any])["total"] as! Int }

    @Test func reportCountsAttemptsAndCauses() throws {
        let dir = TestPaths.temporaryDirectory()
        let f = dir.appendingPathComponent("mail.log")
        try Self.good.write(to: f, atomically: true, encoding: .utf8)
        let r = try ProcessRunner.deferwatch(["analyze", "--json", f.path])
        #expect(r.status == 0, "\(r.stderr)")
        let j = try json(r)
        #expect(attempts(j) == 2)
        let dest = (j["destinations"] as! [[String: Any]]).first!
        #expect(dest["domain"] as? String == "gmail.com")
        #expect(dest["provider"] as? String == "google")
        // The names the status socket uses for the same things (README: JSON documents).
        #expect(j["schema_version"] as? Int == 2)
        #expect(j["version"] as? String == DeferWatchVersion.string)
        #expect((j["lines"] as? [String: Any])?["total"] as? Int != nil)
        #expect((dest["attempts"] as? [String: Any])?["deferred"] as? Int == 1)
        #expect(dest["deferred_share"] as? Double == 1.0)
        func causes(_ v: Any?) -> [String] {
            ((v as? [[String: Any]]) ?? []).map { "\($0["cause"] as? String ?? "?") \($0["deferrals"] as? Int ?? -1)" }
        }
        #expect(causes(dest["causes"]) == ["rate_limit 1"], "\(dest)")
        #expect(causes(j["causes"]) == ["rate_limit 1"])
        let text = try ProcessRunner.deferwatch(["analyze", f.path])
        #expect(text.status == 0)
        #expect(text.stdoutText.contains("gmail.com [google]"))
    }

    @Test func eventsAreJSONLinesInLogOrder() throws {
        let r = try ProcessRunner.deferwatch(["analyze", "--events", "-"], stdin: Data(Self.good.utf8))
        #expect(r.status == 0)
        let lines = r.stdoutText.split(separator: "\n")
        #expect(lines.count == 2)
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        for key in ["time", "mta", "host", "queue_id", "recipient", "domain", "status", "relay", "relay_ip", "dsn",
                    "code", "stage", "cause", "inherited", "provider", "text"] {
            #expect(first.keys.contains(key), "missing \(key)")
        }
        #expect(first["status"] as? String == "deferred")
        #expect(first["code"] as? Int == 421)
    }

    /// Bad input is reported on stderr with the file's name; everything else is processed.
    @Test func badInputIsReportedAndTheRestIsProcessed() throws {
        let dir = TestPaths.temporaryDirectory()
        let good = dir.appendingPathComponent("good.log")
        try Self.good.write(to: good, atomically: true, encoding: .utf8)

        var rng = SeededRandom.fromEnvironment()
        let garbage = dir.appendingPathComponent("random.bin")
        try Data((0..<200_000).map { _ in UInt8.random(in: 0...255, using: &rng) }).write(to: garbage)
        let nul = dir.appendingPathComponent("nul.log")
        try Data([0, 0, 0, 10, 0] + Array(Self.good.utf8).map { $0 == 32 ? 0 : $0 }).write(to: nul)
        let badUTF8 = dir.appendingPathComponent("bad-utf8.log")
        var bytes = Array(Self.good.utf8)
        bytes.insert(contentsOf: [0xFF, 0xC3, 0x28, 0xE2, 0x82], at: 60) // inside the recipient
        try Data(bytes).write(to: badUTF8)
        let huge = dir.appendingPathComponent("huge.log")
        try Data([UInt8](repeating: 65, count: 10 << 20) + [10] + Array(Self.good.utf8)).write(to: huge)
        let empty = dir.appendingPathComponent("empty.log")
        try Data().write(to: empty)
        let missing = dir.appendingPathComponent("missing.log")
        let sub = dir.appendingPathComponent("a-directory")
        try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)

        // Each content problem alone: exit 0, a report, no crash.
        for f in [garbage, nul, badUTF8, huge, empty] {
            let r = try ProcessRunner.deferwatch(["analyze", "--json", f.path])
            #expect(r.status == 0, "\(f.lastPathComponent): status \(r.status) \(r.stderr)")
            #expect((try? json(r)) != nil, "\(f.lastPathComponent): no JSON report")
        }
        let h = try json(try ProcessRunner.deferwatch(["analyze", "--json", huge.path]))
        #expect(((h["lines"] as! [String: Any])["oversized"] as! Int) == 1)
        #expect(attempts(h) == 2, "the lines after a 10 MB line are read")
        let u = try json(try ProcessRunner.deferwatch(["analyze", "--json", badUTF8.path]))
        #expect(attempts(u) == 2, "invalid UTF-8 does not lose the line")

        // Missing file and directory: named on stderr, exit 1, the good file still reported.
        let r = try ProcessRunner.deferwatch(["analyze", "--json", missing.path, sub.path, good.path])
        #expect(r.status == 1)
        #expect(r.stderr.contains("missing.log: cannot open: No such file or directory"), "\(r.stderr)")
        #expect(r.stderr.contains("a-directory: cannot read: is a directory"), "\(r.stderr)")
        #expect(attempts(try json(r)) == 2)
    }

    @Test func gzipInputAndATruncatedArchive() throws {
        let dir = TestPaths.temporaryDirectory()
        var big = ""
        for i in 0..<20_000 {
            big += "Nov 28 10:00:00 mx1 postfix/smtp[1]: A\(String(i, radix: 16).uppercased().leftPadZero(9)): to=<u\(i)@example.org>, relay=mx.example.org[192.0.2.10]:25, delay=1, delays=0/0/0/1, dsn=4.2.2, status=deferred (host mx.example.org[192.0.2.10] said: 452 4.2.2 Mailbox full (in reply to RCPT TO command))\n"
        }
        let plain = dir.appendingPathComponent("mail.log.2")
        try big.write(to: plain, atomically: true, encoding: .utf8)
        let gz = try ProcessRunner.run(URL(fileURLWithPath: "/bin/gzip"), ["-k", "-f", plain.path])
        #expect(gz.status == 0)
        let gzPath = plain.path + ".gz"
        let ok = try ProcessRunner.deferwatch(["analyze", "--json", gzPath])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(attempts(try json(ok)) == 20_000)

        let data = try Data(contentsOf: URL(fileURLWithPath: gzPath))
        let cut = dir.appendingPathComponent("cut.log.gz")
        try data.prefix(data.count / 2).write(to: cut)
        let r = try ProcessRunner.deferwatch(["analyze", "--json", cut.path])
        #expect(r.status == 1)
        #expect(r.stderr.contains("cut.log.gz: truncated gzip file"), "\(r.stderr)")
        let n = attempts(try json(r))
        #expect(n > 1000 && n < 20_000, "the lines before the cut are read: \(n)")
    }

    @Test func classifyOneTextAndAStream() throws {
        let one = try ProcessRunner.deferwatch(["classify", "--json", "--relay", "gmail-smtp-in.l.google.com", "421-4.7.28 Our system has detected an unusual rate of unsolicited mail originating from your IP address. - gsmtp"])
        #expect(one.status == 0)
        let j = try JSONSerialization.jsonObject(with: one.stdout) as! [String: Any]
        #expect(j["provider"] as? String == "google")
        #expect(j["cause"] as? String != nil)

        // One object per input line, in order: an empty line and a line over 64 KiB get an
        // "error" instead of a cause (they were dropped without a word before).
        let input = "connect to mx.example.org[192.0.2.1]:25: Connection refused\n\n" + String(repeating: "x", count: 70_000) + "\n450 4.2.2 Mailbox full\n"
        let stream = try ProcessRunner.deferwatch(["classify"], stdin: Data(input.utf8))
        #expect(stream.status == 0)
        let lines = stream.stdoutText.split(separator: "\n")
        #expect(lines.count == 4)
        let objects = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(objects.map { $0["cause"] as? String } == ["connection_failure", nil, nil, "mailbox"])
        #expect((objects[1]["error"] as? String)?.contains("empty line") == true)
        #expect((objects[2]["error"] as? String)?.contains("longer than 65536 bytes") == true)
        for o in [objects[0], objects[3]] { #expect(Set(o.keys).isSuperset(of: ["text", "cause", "provider", "rule", "confidence"])) }
    }

    /// Exit codes as the README and --help say: 2 for bad usage, whatever the command.
    @Test func badUsageExitsTwo() throws {
        for args in [["analyze", "--limit", "-1", "x.log"], ["nosuchcommand"], ["analyze"], ["classify", "--bogus"],
                     ["status", "destinations", "--cause", "bogus"], ["status", "destinations", "--scope", "planet"],
                     ["rules", "suggest", "--min-count", "0", "x.log"]] {
            let r = try ProcessRunner.deferwatch(args)
            #expect(r.status == 2, "\(args): \(r.status) \(r.stderr)")
            #expect(!r.stderr.isEmpty, "\(args) says why")
        }
        #expect(try ProcessRunner.deferwatch(["--help"]).status == 0)
        #expect(try ProcessRunner.deferwatch(["--version"]).status == 0)
    }

    /// --explain shows every rule that matched, most specific layer first; the words win
    /// over the enhanced code's class, and the one that decided is marked.
    @Test func classifyExplainShowsTheEvidenceWeighed() throws {
        let r = try ProcessRunner.deferwatch(["classify", "--explain", "421 4.4.5 Too many sessions from your IP, try again later"])
        #expect(r.status == 0, "\(r.stderr)")
        let out = r.stdoutText
        #expect(out.contains("cause:      connection_limit"), "\(out)")
        #expect(out.contains("confidence: medium (cue rule)"), "\(out)")
        #expect(out.contains("* cue  connlimit-too-many-connections -> connection_limit"), "\(out)")
        #expect(out.contains("words: \"too many sessions\""), "\(out)")
        #expect(out.contains("class  dsn-congestion -> service_unavailable"), "\(out)")
        let order = ["* cue  connlimit", "cue  service-try-again-later", "class  dsn-congestion"].map { out.range(of: $0)?.lowerBound }
        #expect(order.allSatisfy { $0 != nil } && order[0]! < order[1]! && order[1]! < order[2]!, "\(out)")

        let j = try ProcessRunner.deferwatch(["classify", "--json", "--explain", "domain matches queue_smtp_domains, or -odqs set"])
        let o = try JSONSerialization.jsonObject(with: j.stdout) as! [String: Any]
        #expect(o["cause"] as? String == "local_queue")
        #expect(o["origin"] as? String == "local")
        #expect(o["confidence"] as? String == "high")
        #expect(o["layer"] as? String == "local")
        #expect((o["evidence"] as? [[String: Any]])?.first?["rule"] as? String == "exim-local-queued")
    }

    /// `rules suggest` groups the unexplained texts into templates and drafts a rule that a
    /// rules file takes as it is, and that then explains those texts.
    @Test func rulesSuggestDraftsARuleThatExplainsTheTexts() throws {
        var log = ""
        for i in 0..<5 {
            log += "Nov 28 10:00:0\(i) mx1 postfix/smtp[1]: ABCDEF12\(i)0: to=<u\(i)@widget\(i).example>, relay=mx.widget\(i).example[192.0.2.\(i + 1)]:25, delay=1, delays=0/0/0/1, dsn=4.0.0, status=deferred (host mx.widget\(i).example[192.0.2.\(i + 1)] said: 450 Frobnicator queue \(100 + i) saturated for <u\(i)@widget\(i).example>, come back at \(10 + i):00 (in reply to RCPT TO command))\n"
        }
        log += "Nov 28 10:00:09 mx1 postfix/smtp[1]: ABCDEF1290: to=<v@other.example>, relay=mx.other.example[192.0.2.9]:25, delay=1, delays=0/0/0/1, dsn=4.0.0, status=deferred (host mx.other.example[192.0.2.9] said: 450 zork blorp (in reply to RCPT TO command))\n"
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = dir.appendingPathComponent("mail.log")
        try log.write(to: f, atomically: true, encoding: .utf8)
        let r = try ProcessRunner.deferwatch(["rules", "suggest", "--utc", f.path])
        #expect(r.status == 0, "\(r.stderr)")
        let out = r.stdoutText
        #expect(out.contains("# 5x  "), "\(out)")
        #expect(out.contains("# 1x  "), "\(out)")
        #expect(out.range(of: "# 5x")!.lowerBound < out.range(of: "# 1x")!.lowerBound, "most frequent first")
        #expect(out.contains("contains = [\"frobnicator queue\"]"), "\(out)")
        // The draft, with a cause chosen, is a valid rules file that explains the texts.
        let rules = dir.appendingPathComponent("site.toml")
        try out.replacingOccurrences(of: "cause = \"other\"", with: "cause = \"service_unavailable\"").write(to: rules, atomically: true, encoding: .utf8)
        let again = try ProcessRunner.deferwatch(["rules", "suggest", "--utc", "--rules", rules.path, f.path])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdoutText.contains("0 deferral texts no rule explains"), "\(again.stdoutText)")
    }

    /// Classic syslog has no year. A file whose lines cycle through the months (stray
    /// clocks, or hostile input) gives the same events with one thread or several (the
    /// parallel reader starts segments mid-file), and no year leaves [mtime year - 1, mtime year].
    @Test func rfc3164YearsAreTheSameWithAnyNumberOfThreads() throws {
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        var log = ""
        log.reserveCapacity(5_000_000)
        for i in 0..<24_000 {
            log += "\(months[i % 12]) 1\(i % 10) 10:00:0\(i % 10) mx1 postfix/smtp[1]: A\(String(i, radix: 16, uppercase: true))F: to=<u\(i % 50)@example.org>, relay=mx.example.org[192.0.2.10]:25, delay=1, delays=0/0/0/1, dsn=4.7.1, status=deferred (host mx.example.org[192.0.2.10] said: 450 4.7.1 Greylisted, please try again later in a while (in reply to RCPT TO command))\n"
        }
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = dir.appendingPathComponent("cycling.log")
        try log.write(to: f, atomically: true, encoding: .utf8)
        let one = try ProcessRunner.deferwatch(["analyze", "--events", "--utc", "--threads", "1", f.path])
        let two = try ProcessRunner.deferwatch(["analyze", "--events", "--utc", "--threads", "2", f.path])
        #expect(one.status == 0 && two.status == 0, "\(one.stderr) \(two.stderr)")
        #expect(one.stdout == two.stdout, "the events differ with the number of threads")
        let mtimeYear = Calendar(identifier: .gregorian).component(.year, from: (try FileManager.default.attributesOfItem(atPath: f.path)[.modificationDate] as? Date) ?? Date())
        let years = Set(one.stdoutText.split(separator: "\n").map { $0.dropFirst(9).prefix(4) })
        #expect(years.isSubset(of: [Substring(String(mtimeYear - 1)), Substring(String(mtimeYear))]), "\(years.sorted())")
    }

    /// One line dated 2099 in the middle of a log: the storm after it still alerts, the
    /// alert before it is not resolved by it, and the line is counted on stderr.
    @Test func aFutureDatedLineDoesNotSilenceAnalyzeAlerts() throws {
        func line(_ t: String, _ dom: String, _ i: Int, _ text: String) -> String {
            "\(t) mx1 postfix/smtp[1]: BCDE\(String(i, radix: 16, uppercase: true))0F: to=<u\(i)@\(dom)>, relay=mx.\(dom)[192.0.2.10]:25, delay=1, delays=0/0/0/1, dsn=4.7.0, status=deferred (host mx.\(dom)[192.0.2.10] said: \(text) (in reply to RCPT TO command))\n"
        }
        var log = ""
        for i in 0..<10 { log += line("2026-11-28T10:0\(i):00+00:00", "one.example", i, "421 4.7.0 Too many connections from your IP") }
        log += line("2099-01-01T00:00:00+00:00", "stray.example", 50, "451 4.7.1 Greylisted, try again")
        for i in 0..<10 { log += line("2026-11-28T10:1\(i):00+00:00", "two.example", 100 + i, "450 4.7.1 Client host rejected: cannot find your hostname") }
        let r = try ProcessRunner.deferwatch(["analyze", "--alerts", "--json", "-"], stdin: Data(log.utf8))
        #expect(r.status == 0, "\(r.stderr)")
        let t = r.stdoutText.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let opens = t.filter { $0["state"] as? String == "open" && $0["end_of_input"] == nil }.compactMap { $0["key"] as? String }
        #expect(opens.contains("one.example") && opens.contains("two.example"), "\(r.stdoutText)")
        #expect(!t.contains { ($0["time"] as? String ?? "").hasPrefix("2099") }, "\(r.stdoutText)")
        #expect(r.stderr.contains("1 delivery lines were dated far ahead"), "\(r.stderr)")
    }

    @Test func badRulesFileExitsTwo() throws {
        let dir = TestPaths.temporaryDirectory()
        let f = dir.appendingPathComponent("rules.toml")
        try "[[rule]]\nid = \"x\"\ncause = \"nope\"\ncontains = [\"a\"]\n".write(to: f, atomically: true, encoding: .utf8)
        let r = try ProcessRunner.deferwatch(["analyze", "--rules", f.path, "-"], stdin: Data())
        #expect(r.status == 2)
        #expect(r.stderr.contains("rules.toml:3: unknown cause \"nope\""), "\(r.stderr)")
    }
}

extension String {
    func leftPadZero(_ n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}

/// `deferwatch check-config`.
@Suite struct CheckConfigTests {
    @Test func theDefaultConfigurationIsValid() throws {
        let r = try ProcessRunner.deferwatch(["check-config", TestPaths.packageRoot.appendingPathComponent("Config/deferwatch.toml").path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdoutText.contains("deferwatch.toml: OK"))
    }

    @Test func everyProblemIsReportedWithFileAndLine() throws {
        let dir = TestPaths.temporaryDirectory()
        let f = dir.appendingPathComponent("bad.toml")
        try """
        [alerts]
        window = "15 minutes"

        [syslog]
        facility = "email"
        colour = "blue"

        [classify]
        rules = ["\(dir.path)/missing-rules.toml"]

        """.write(to: f, atomically: true, encoding: .utf8)
        let r = try ProcessRunner.deferwatch(["check-config", f.path])
        #expect(r.status == 1)
        #expect(r.stderr.contains("bad.toml:2: window: \"15 minutes\" is not a duration"), "\(r.stderr)")
        #expect(r.stderr.contains("bad.toml:5: unknown facility \"email\""), "\(r.stderr)")
        #expect(r.stderr.contains("bad.toml:6: unknown key \"colour\" in [syslog]"), "\(r.stderr)")
    }
}
