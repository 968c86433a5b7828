import DeferWatchCore
import DeferWatchTestSupport
import Foundation
import Testing

/// `deferwatch trace` over written Postfix and Exim logs: a message found by queue id,
/// recipient, sender or Message-ID, its every line in order with the attempts' causes, the
/// bounce it created traced too, the outcome.
@Suite struct TraceCommandTests {
    static let postfix = """
    2026-12-01T10:00:00Z mx1 postfix/smtpd[10]: 4AbC12dEfG: client=app.example.org[192.0.2.4]
    2026-12-01T10:00:00Z mx1 postfix/cleanup[11]: 4AbC12dEfG: message-id=<order-77@example.org>
    2026-12-01T10:00:00Z mx1 postfix/qmgr[12]: 4AbC12dEfG: from=<shop@example.org>, size=4242, nrcpt=1 (queue active)
    2026-12-01T10:00:01Z mx1 postfix/smtp[13]: 4AbC12dEfG: to=<ann@gmail.com>, relay=gmail-smtp-in.l.google.com[142.250.102.27]:25, delay=1, delays=0/0/0/1, dsn=4.7.28, status=deferred (host gmail-smtp-in.l.google.com[142.250.102.27] said: 421-4.7.28 Our system has detected an unusual rate of unsolicited mail originating from your IP address. - gsmtp (in reply to end of DATA command))
    2026-12-01T10:00:02Z mx1 postfix/smtpd[10]: 5ZzZ99yYxX: client=other.example.org[192.0.2.5]
    2026-12-01T10:10:01Z mx1 postfix/smtp[13]: 4AbC12dEfG: to=<ann@gmail.com>, relay=gmail-smtp-in.l.google.com[142.250.102.27]:25, delay=601, delays=600/0/0/1, dsn=5.7.1, status=bounced (host gmail-smtp-in.l.google.com[142.250.102.27] said: 550-5.7.1 [192.0.2.1] Our system has detected that this message is likely unsolicited mail. - gsmtp (in reply to end of DATA command))
    2026-12-01T10:10:01Z mx1 postfix/bounce[14]: 4AbC12dEfG: sender non-delivery notification: 6BoUnCe123
    2026-12-01T10:10:01Z mx1 postfix/qmgr[12]: 6BoUnCe123: from=<>, size=6000, nrcpt=1 (queue active)
    2026-12-01T10:10:01Z mx1 postfix/qmgr[12]: 4AbC12dEfG: removed
    2026-12-01T10:10:02Z mx1 postfix/local[15]: 6BoUnCe123: to=<shop@example.org>, relay=local, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (delivered to mailbox)
    2026-12-01T10:10:02Z mx1 postfix/qmgr[12]: 6BoUnCe123: removed

    """

    static let exim = """
    2026-12-01 10:00:00 1vQx2a-000Abc-5Z <= news@lists.example.org H=app.example.org [192.0.2.4] P=esmtp S=900 id=n-1@lists.example.org
    2026-12-01 10:00:01 1vQx2a-000Abc-5Z == bob@example.net R=dnslookup T=remote_smtp defer (-45) H=mx1.example.net [192.0.2.9]: SMTP error from remote mail server after RCPT TO:<bob@example.net>: 450 4.7.25 Client host rejected: cannot find your hostname, [203.0.113.7]
    2026-12-01 10:30:01 1vQx2a-000Abc-5Z ** bob@example.net R=dnslookup T=remote_smtp H=mx1.example.net [192.0.2.9]: SMTP error from remote mail server after RCPT TO:<bob@example.net>: 550 5.7.25 Client host rejected: cannot find your hostname, [203.0.113.7]
    2026-12-01 10:30:01 1vQx2b-000Def-6Y <= <> R=1vQx2a-000Abc-5Z U=Debian-exim P=local S=1800
    2026-12-01 10:30:01 1vQx2a-000Abc-5Z Completed
    2026-12-01 10:30:02 1vQx2b-000Def-6Y => news@lists.example.org R=dnslookup T=remote_smtp H=mx.lists.example.org [192.0.2.10] C="250 OK"
    2026-12-01 10:30:02 1vQx2b-000Def-6Y Completed

    """

    func run(_ log: String, _ args: [String]) throws -> ProcessResult {
        let dir = TestPaths.temporaryDirectory("trace")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("mail.log")
        try log.write(to: file, atomically: true, encoding: .utf8)
        return try ProcessRunner.deferwatch(["trace", "--utc", "--host", "mx1", "--from", file.path] + args)
    }

    @Test func aPostfixMessageByRecipientQueueIDAndMessageID() throws {
        let byRecipient = try run(Self.postfix, ["Ann@Gmail.com"])
        #expect(byRecipient.status == 0, "\(byRecipient.stderr)")
        let text = byRecipient.stdoutText
        #expect(text.hasPrefix("message 4AbC12dEfG on mx1 (postfix)\n  sender      <shop@example.org>\n  message-id  <order-77@example.org>\n"), "\(text)")
        #expect(text.contains("2026-12-01T10:00:00Z  received  client=app.example.org[192.0.2.4]"), "\(text)")
        #expect(text.contains("2026-12-01T10:00:01Z  deferred to=<ann@gmail.com> relay=gmail-smtp-in.l.google.com dsn=4.7.28 cause=rate_limit"), "\(text)")
        #expect(text.contains("bounced to=<ann@gmail.com> relay=gmail-smtp-in.l.google.com dsn=5.7.1 cause=content"), "\(text)")
        #expect(text.contains("outcome     1 bounced, 1 deferred attempts; left the queue"), "\(text)")
        // The bounce it created, traced after it; the other message is not shown.
        #expect(text.contains("message 6BoUnCe123 on mx1 (postfix), the bounce of 4AbC12dEfG"), "\(text)")
        #expect(!text.contains("5ZzZ99yYxX"))
        for q in ["4AbC12dEfG", "<order-77@example.org>", "shop@example.org"] {
            let r = try run(Self.postfix, [q])
            #expect(r.stdoutText.hasPrefix("message 4AbC12dEfG on mx1"), "\(q): \(r.stdoutText)")
        }
        let json = try run(Self.postfix, ["4AbC12dEfG", "--json"])
        let objects = json.stdoutText.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(objects.map { $0["id"] as? String } == ["4AbC12dEfG", "6BoUnCe123"])
        #expect(objects.first?["message_id"] as? String == "order-77@example.org")
        let steps = objects.first?["steps"] as? [[String: Any]] ?? []
        #expect(steps.map { $0["kind"] as? String ?? "" } == ["received", "message-id", "queued", "deferred", "bounced", "bounce-created", "removed"])
        #expect(steps[3]["cause"] as? String == "rate_limit")
    }

    @Test func anEximMessageAndItsBounce() throws {
        let r = try run(Self.exim, ["bob@example.net"])
        #expect(r.status == 0, "\(r.stderr)")
        let text = r.stdoutText
        #expect(text.hasPrefix("message 1vQx2a-000Abc-5Z on mx1 (exim)\n  sender      <news@lists.example.org>\n  message-id  <n-1@lists.example.org>\n"), "\(text)")
        #expect(text.contains("deferred to=<bob@example.net> relay=mx1.example.net dsn=4.7.25 cause=reverse_dns"), "\(text)")
        #expect(text.contains("  sender      <>\n"), "\(text)")
        #expect(text.contains("message 1vQx2b-000Def-6Y on mx1 (exim), the bounce of 1vQx2a-000Abc-5Z"), "\(text)")
        #expect(text.contains("outcome     1 delivered; left the queue"), "\(text)")
        let byID = try run(Self.exim, ["n-1@lists.example.org"])
        #expect(byID.stdoutText.hasPrefix("message 1vQx2a-000Abc-5Z"), "\(byID.stdoutText)")
    }

    @Test func nothingFoundAndBadUsage() throws {
        let none = try run(Self.postfix, ["nobody@example.com"])
        #expect(none.status == 1)
        #expect(none.stderr.contains("no message in"), "\(none.stderr)")
        let noFrom = try ProcessRunner.deferwatch(["trace", "4AbC12dEfG"])
        #expect(noFrom.status == 2)
        let missing = try ProcessRunner.deferwatch(["trace", "--from", "/nonexistent/mail.log", "x"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("/nonexistent/mail.log"), "\(missing.stderr)")
    }

    /// Lines are told apart from their bytes before any string is made of them (the quick
    /// test of pass one): an address in capitals is still found by one in lower case, and a
    /// line with bytes beyond ASCII is read the whole way, where Unicode lower-casing may
    /// turn them into the query (the Kelvin sign is a "k").
    @Test func theQuickTestKeepsCaseAndUnicodeMatches() throws {
        let log = """
        2026-12-01T10:00:00Z mx1 postfix/qmgr[12]: 7CaSe1234A: from=<shop@example.org>, size=10, nrcpt=1 (queue active)
        2026-12-01T10:00:01Z mx1 postfix/smtp[13]: 7CaSe1234A: to=<Ann.Upper@Example.NET>, relay=mx.example.net[192.0.2.9]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)
        2026-12-01T10:00:02Z mx1 postfix/qmgr[12]: 8KeLvIn123: from=<shop@example.org>, size=10, nrcpt=1 (queue active)
        2026-12-01T10:00:03Z mx1 postfix/smtp[13]: 8KeLvIn123: to=<\u{212A}en@example.net>, relay=mx.example.net[192.0.2.9]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)

        """
        let upper = try run(log, ["ann.upper@example.net"])
        #expect(upper.status == 0, "\(upper.stderr)")
        #expect(upper.stdoutText.contains("message 7CaSe1234A"), "\(upper.stdoutText)")
        let kelvin = try run(log, ["ken@example.net"])
        #expect(kelvin.status == 0, "\(kelvin.stderr)")
        #expect(kelvin.stdoutText.contains("message 8KeLvIn123"), "\(kelvin.stdoutText)")
        #expect(!kelvin.stdoutText.contains("7CaSe1234A"))
    }
}
