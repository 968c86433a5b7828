import DeferWatchTestSupport
import Foundation
import Testing

/// `deferwatch analyze --journal`: a real journal file made with systemd-journal-remote.
@Suite(.enabled(if: JournalFile.isAvailable || ProcessInfo.processInfo.environment["CI"] != nil,
                "systemd-journal-remote is not installed"))
struct JournalSourceTests {
    /// The sample log as a journal gives the same events as the text (host from _HOSTNAME,
    /// program from SYSLOG_IDENTIFIER, time from the entry); deferwatch's own entries and
    /// other programs are skipped.
    @Test func journalGivesTheSameEventsAsTheText() throws {
        let sample = TestPaths.packageRoot.appendingPathComponent("samples/mail.log")
        let text = try String(contentsOf: sample, encoding: .utf8)
        var entries = JournalFile.entries(fromSyslog: text, year: 2026)
        #expect(entries.count == text.split(separator: "\n").count)
        entries.append(JournalFile.Entry(time: entries.last!.time + 1, host: "mx1", identifier: "deferwatch", pid: 9,
                                         message: "alert=open id=1 cause=rate_limit"))
        let dir = TestPaths.temporaryDirectory("journal")
        let journal = dir.appendingPathComponent("mail.journal")
        try JournalFile.append(entries, to: journal)

        // The text's classic timestamps carry the year of the file's modification time.
        let copy = dir.appendingPathComponent("mail.log")
        try text.write(to: copy, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1_795_900_000)], ofItemAtPath: copy.path)

        let fromText = try ProcessRunner.deferwatch(["analyze", "--events", "--utc", copy.path])
        let fromJournal = try ProcessRunner.deferwatch(["analyze", "--events", "--journal", journal.path])
        #expect(fromText.status == 0 && fromJournal.status == 0, "\(fromText.stderr) \(fromJournal.stderr)")
        let a = fromText.stdoutText.split(separator: "\n")
        let b = fromJournal.stdoutText.split(separator: "\n")
        #expect(a.count > 100)
        #expect(a == b)

        // The directory form, and the report's counts.
        let r = try ProcessRunner.deferwatch(["analyze", "--json", "--journal", dir.path])
        #expect(r.status == 0)
        let j = try JSONSerialization.jsonObject(with: r.stdout) as! [String: Any]
        let lines = j["lines"] as! [String: Any]
        #expect(lines["read"] as? Int == entries.count)
        #expect((lines["other_programs"] as? Int ?? 0) >= 1)
    }

    @Test func aMissingJournalIsNamed() throws {
        let r = try ProcessRunner.deferwatch(["analyze", "--journal", "/nonexistent/journal"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("/nonexistent/journal: cannot open journal: No such file or directory"), "\(r.stderr)")
    }
}
