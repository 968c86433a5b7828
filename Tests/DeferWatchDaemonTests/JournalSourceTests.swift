import DeferWatchDaemon
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
        #expect(lines["total"] as? Int == entries.count)
        #expect((lines["other_programs"] as? Int ?? 0) >= 1)
    }

    @Test func aMissingJournalIsNamed() throws {
        let r = try ProcessRunner.deferwatch(["analyze", "--journal", "/nonexistent/journal"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("/nonexistent/journal: cannot open journal: No such file or directory"), "\(r.stderr)")
    }
}

/// Garbage written into a journal file: the entries libsystemd can no longer read are
/// missing from its sequence numbers. They are counted and said, and reading goes on.
@Suite(.enabled(if: JournalFile.isAvailable || ProcessInfo.processInfo.environment["CI"] != nil,
                "systemd-journal-remote is not installed"))
struct DamagedJournalTests {
    static func entries(_ r: Range<Int>) -> [JournalFile.Entry] {
        r.map { i in
            JournalFile.Entry(time: 1_795_824_000_000_000 + Int64(i) * 1000, host: "mx1", identifier: "postfix/smtp", pid: 100,
                              message: "\(String(format: "C%09X", i)): to=<u\(i)@example.org>, relay=mx.example.org[192.0.2.10]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)")
        }
    }

    /// 64 KiB of random bytes over the file's last objects, then 1,000 entries more.
    static func damagedJournal() throws -> URL {
        let dir = TestPaths.temporaryDirectory("damaged-journal")
        let file = dir.appendingPathComponent("remote.journal")
        try JournalFile.append(entries(0..<1000), to: file)
        let fd = open(file.path, O_RDWR)
        defer { close(fd) }
        var tail: UInt64 = 0
        _ = withUnsafeMutableBytes(of: &tail) { pread(fd, $0.baseAddress, 8, 0x88) } // tail_object_offset
        var garbage = [UInt8](repeating: 0, count: 65_536)
        var rng = SeededRandom.fromEnvironment()
        for i in garbage.indices { garbage[i] = UInt8.random(in: 0...255, using: &rng) }
        _ = garbage.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(tail) - 65_536 - 4096) }
        try JournalFile.append(entries(1000..<2000), to: file)
        return dir
    }

    @Test func unreadableEntriesAreCountedAndReadingGoesOn() throws {
        let dir = try Self.damagedJournal()
        let reader = try JournalReader(path: dir.path)
        var read = 0
        try reader.readToEnd { _ in read += 1 }
        #expect(read > 1000, "entries after the damage are read: \(read)")
        #expect(reader.unreadable > 0, "\(read) read, none said missing")
        // Entries lost after the last readable one show only when a later one comes.
        #expect(read + reader.unreadable <= 2000 && read + reader.unreadable >= 1990, "\(read) read + \(reader.unreadable) unreadable")
        print("damaged journal: \(read) of 2000 entries read, \(reader.unreadable) counted unreadable")
        let r = try ProcessRunner.deferwatch(["analyze", "--journal", dir.path])
        #expect(r.status == 0)
        #expect(r.stderr.contains("could not be read"), "\(r.stderr)")
    }
}
