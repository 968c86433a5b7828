import DeferWatchCore
import DeferWatchDaemon
import DeferWatchTestSupport
import Foundation
import Testing

/// An alert raised by the running daemon from log lines carries its configuration fix in
/// /v1/alerts and `status alerts`; `deferwatch suggest` prints it alone, and the real
/// postconf accepts what it printed.
@Suite struct SuggestCommandTests {
    @Test func theDaemonsAlertCarriesTheFixAndSuggestPrintsIt() throws {
        // 30 Gmail rate-limit deferrals, 40 deliveries to Gmail, 10 Outlook reputation
        // deferrals (StatusSocketTests.knownLog).
        let (s, p) = try StatusSocketTests.startWithKnownLog()
        defer { ProcessRunner.stop(p) }
        _ = eventually(every: 50_000) { ((try? StatusSocketTests.get(s, "/v1/alerts"))?.json["alerts"] as? [Any])?.count == 2 }
        let answer = try StatusClient.get(socket: StatusSocketTests.socketPath(s), target: "/v1/alerts")
        #expect(answer.status == 200)
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any])
        let alerts = try #require(doc["alerts"] as? [[String: Any]])
        let gmail = try #require(alerts.first { $0["cause"] as? String == "rate_limit" }, "\(alerts)")
        let outlook = try #require(alerts.first { $0["cause"] as? String == "reputation" }, "\(alerts)")
        let gmailID = try #require(gmail["id"] as? Int)
        let outlookID = try #require(outlook["id"] as? Int)

        // The fix object: Postfix's, for the alert's domain, from 40 through in the window.
        let fix = try #require(gmail["fix"] as? [String: Any], "\(gmail)")
        #expect(fix["mta"] as? String == "postfix")
        #expect(fix["cause"] as? String == "rate_limit")
        #expect(fix["alert"] as? Int == gmailID)
        #expect(fix["transport"] as? String == "slow_gmail_com")
        #expect(fix["domains"] as? [String] == ["gmail.com"])
        let observed = try #require(fix["observed"] as? [String: Any])
        #expect(observed["deliveries"] as? Int == 40 && observed["deferrals"] as? Int == 30, "\(observed)")
        let seconds = try #require(observed["seconds"] as? Int)
        #expect(seconds >= 900 && seconds < 960, "the window and the time since the opening: \(seconds)")
        let values = try #require(fix["values"] as? [String: Any])
        // ceil(seconds / 40) between deliveries: 23 s for 900 to 920 seconds.
        #expect(values["rate_delay_seconds"] as? Int == (seconds + 39) / 40, "\(values)")
        #expect(values["concurrency"] as? Int == 1 && values["recipient_limit"] as? Int == 1, "\(values)")
        let files = try #require(fix["files"] as? [[String: Any]])
        #expect(files.map { $0["path"] as? String } == ["/etc/postfix/transport", "/etc/postfix/master.cf", "/etc/postfix/main.cf"])
        #expect((fix["summary"] as? String)?.contains("40 deliveries got through") == true, "\(fix)")
        #expect(outlook["fix"] == nil, "reputation has no configuration fix: \(outlook)")

        // suggest: the snippet alone, ready to paste.
        let sock = StatusSocketTests.socketPath(s)
        let r = try ProcessRunner.deferwatch(["suggest", "\(gmailID)", "--socket", sock])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.isEmpty, "\(r.stderr)")
        let text = r.stdoutText
        #expect(text.hasPrefix("# deferwatch alert #\(gmailID): rate_limit (postfix)\n"), "\(text)")
        #expect(text.contains("\ngmail.com  slow_gmail_com:\n"), "\(text)")
        #expect(text.contains("\nslow_gmail_com unix  -       -       n       -       -       smtp\n"), "\(text)")
        #expect(text.contains("\nslow_gmail_com_destination_rate_delay = \((seconds + 39) / 40)s\n"), "\(text)")
        #expect(text.hasSuffix("#   postfix reload\n"), "\(text)")
        // Every line not a comment is configuration, nothing else.
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            #expect(line.allSatisfy { $0.isASCII && !$0.isNewline }, "\(line)")
        }
        // The JSON form is the same fix; its text is what was printed.
        let j = try ProcessRunner.deferwatch(["suggest", "\(gmailID)", "--socket", sock, "--json"])
        #expect(j.status == 0)
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let decoded = try decoder.decode(ConfigFix.self, from: j.stdout)
        #expect(decoded.snippet == text)
        // The real postconf and postmap accept what the daemon suggested.
        let tools = try ConfigFixMTATests.tools("suggest")
        defer { try? FileManager.default.removeItem(at: tools.dir) }
        try ConfigFixMTATests.checkPostfix(decoded, tools: tools)

        // status alerts shows it; an alert without one, an unknown one and a bad id say so.
        let shown = try ProcessRunner.deferwatch(["status", "alerts", "--socket", sock])
        #expect(shown.stdoutText.contains("config fix (deferwatch suggest \(gmailID)): Postfix sends to gmail.com through its own transport slow_gmail_com"), "\(shown.stdoutText)")
        #expect(shown.stdoutText.contains("       | slow_gmail_com_destination_recipient_limit = 1\n"), "\(shown.stdoutText)")
        let none = try ProcessRunner.deferwatch(["suggest", "\(outlookID)", "--socket", sock])
        #expect(none.status == 6 && none.stdout.isEmpty, "\(none.status) \(none.stdoutText)")
        #expect(none.stderr.contains("alert #\(outlookID) (reputation on "), "\(none.stderr)")
        #expect(none.stderr.contains("has no configuration fix"), "\(none.stderr)")
        let unknown = try ProcessRunner.deferwatch(["suggest", "999", "--socket", sock])
        #expect(unknown.status == 4 && unknown.stdout.isEmpty)
        #expect(unknown.stderr.contains("no open alert #999 (open: #"), "\(unknown.stderr)")
        #expect(try ProcessRunner.deferwatch(["suggest", "twelve", "--socket", sock]).status == 2)
        #expect(try ProcessRunner.deferwatch(["suggest", "0", "--socket", sock]).status == 2)
        #expect(try ProcessRunner.deferwatch(["suggest", "--socket", sock]).status == 2)
    }

    @Test func suggestWithoutADaemonSaysSo() throws {
        let dir = TestPaths.temporaryDirectory("suggest")
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try ProcessRunner.deferwatch(["suggest", "1", "--socket", dir.appendingPathComponent("none.sock").path])
        #expect(r.status == 3)
        #expect(r.stderr.contains("deferwatch is not running"), "\(r.stderr)")
    }
}
