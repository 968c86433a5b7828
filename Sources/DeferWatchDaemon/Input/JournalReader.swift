#if canImport(Glibc)
import Glibc
#endif
import CSystemd
import DeferWatchCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Reads a systemd journal (a directory of journal files, such as /var/log/journal or
/// /var/log/journal/remote, or one journal file) through libsystemd, handing out the mail
/// entries as `LogRecord`s: Postfix and Exim (SYSLOG_IDENTIFIER postfix*, exim*, or a
/// custom name ending in a Postfix service), never deferwatch's own. The handle belongs to
/// one thread for its whole life (libsystemd's rule): create, use and drop it on the same one.
public final class JournalReader {
    public let path: String
    private var journal: OpaquePointer?

    /// Entries read and entries that were mail.
    public private(set) var entries = 0
    public private(set) var mailEntries = 0

    /// The local system journal (the default source of `deferwatch run`).
    public init(system: Void = ()) throws(InputError) {
        path = "the system journal"
        var j: OpaquePointer?
        let rc = sd_journal_open(&j, Int32(SD_JOURNAL_LOCAL_ONLY))
        guard rc >= 0, let j else { throw InputError(path: path, operation: "cannot open journal", errno: -rc) }
        journal = j
    }

    public init(path: String) throws(InputError) {
        self.path = path
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw InputError(path: path, operation: "cannot open journal", errno: errno)
        }
        var j: OpaquePointer?
        let rc: Int32
        if (st.st_mode & S_IFMT) == S_IFDIR {
            rc = sd_journal_open_directory(&j, path, 0)
        } else {
            checksSequence = false
            rc = path.withCString { p in
                var files: [UnsafePointer<CChar>?] = [p, nil]
                return files.withUnsafeMutableBufferPointer { sd_journal_open_files(&j, $0.baseAddress, 0) }
            }
        }
        guard rc >= 0, let j else {
            throw InputError(path: path, operation: "cannot open journal", errno: -rc)
        }
        journal = j
    }

    deinit {
        if let journal { sd_journal_close(journal) }
    }

    /// Whether the journal has any file this process may read (a host without journald, or
    /// a user outside the systemd-journal group, opens an empty journal without an error).
    public var hasFiles: Bool {
        guard let journal else { return false }
        var bytes: UInt64 = 0
        return sd_journal_get_usage(journal, &bytes) >= 0 && bytes > 0
    }

    /// Whether a syslog identifier is one deferwatch reads.
    static func isMail(_ identifier: Bytes) -> Bool {
        PostfixParser.isPostfix(program: identifier) || EximParser.isExim(program: identifier)
    }

    // Fields are copied out: libsystemd's data pointer is valid only until the next get_data.
    private var identifier: [UInt8] = []
    private var message: [UInt8] = []
    private var host: [UInt8] = []

    /// Calls `body` with every mail entry from the current position to the end, or with at
    /// most `limit` entries; returns true when it stopped at the limit (more are waiting).
    @discardableResult
    public func readToEnd(limit: Int = Int.max, _ body: (LogRecord) -> Void) throws(InputError) -> Bool {
        guard let j = journal else { return false }
        var n = 0
        // The position is taken once, after the last entry of the call (the current entry
        // stays the last one read, also when sd_journal_next finds nothing more); later,
        // sd_journal_wait may move it.
        var batch = 0
        var first: (id: UInt64, seq: UInt64)?
        defer {
            if moved {
                moved = false
                notePosition(j)
                if checksSequence && !perEntry, let first { checkBatch(first: first, last: sequence(j), count: batch) }
            }
        }
        while true {
            if n >= limit { return true }
            n += 1
            let rc = sd_journal_next(j)
            if rc < 0 { throw InputError(path: path, operation: "cannot read journal", errno: -rc) }
            if rc == 0 { return false }
            entries += 1
            moved = true
            if !checksSequence {
            } else if perEntry {
                if let s = sequence(j) { note(s) }
            } else if batch == 0 {
                first = sequence(j)
            }
            batch += 1
            guard copy(j, "SYSLOG_IDENTIFIER", into: &identifier),
                  identifier.withUnsafeBufferPointer({ Self.isMail($0) }),
                  copy(j, "MESSAGE", into: &message) else { continue }
            if !copy(j, "_HOSTNAME", into: &host) { host.removeAll(keepingCapacity: true) }
            mailEntries += 1
            let t = time(j)
            identifier.withUnsafeBufferPointer { id in
                message.withUnsafeBufferPointer { msg in
                    host.withUnsafeBufferPointer { h in
                        body(LogRecord(time: t, host: h, program: id, message: msg))
                    }
                }
            }
        }
    }

    /// Entries missing from the journal's sequence numbers as it is read: written, but no
    /// longer readable (libsystemd passes over the damaged part of a file without a word).
    public internal(set) var unreadable = 0
    /// The last sequence number read, per sequence-number id (one per journald, or per
    /// source host in a journal-remote directory).
    var lastSeq: [UInt64: UInt64] = [:]

    /// Whether every entry's number is looked at: once a batch held entries of several
    /// sequence-number ids (a journal-remote directory of several hosts). With one id,
    /// a batch's first and last numbers and its count say the same, for two cursors a batch.
    var perEntry = false
    /// Off for a single journal file: journald numbers the entries of all its files (the
    /// system's and each user's) in one sequence, so one file alone has gaps by design.
    var checksSequence = true

    private func copy(_ j: OpaquePointer, _ name: StaticString, into buffer: inout [UInt8]) -> Bool {
        guard let b = field(j, name) else { return false }
        buffer.removeAll(keepingCapacity: true)
        buffer.append(contentsOf: b)
        return true
    }

    /// Where the reader stands: the last entry read, for the checkpoint.
    public struct Position: Codable, Equatable, Sendable {
        public var cursor: String
        public var bootID: String
        public var monotonic: UInt64
    }

    /// The last entry read (worked out once per `readToEnd`, not per entry).
    public var cursorPosition: Position? { noted }

    private var noted: Position?
    private var moved = false

    /// Positions the reader: after `position` (the saved entry itself is skipped, also when
    /// the journal file was rotated and the cursor only lands near it), or at the tail, or
    /// `lookback` microseconds before now.
    /// With no saved position and `firstStart` false (a start after one that saw no entry),
    /// reading begins at the head.
    public func seek(after saved: Position?, lookback: Int64?, firstStart: Bool = true) {
        guard let j = journal else { return }
        if let saved, sd_journal_seek_cursor(j, saved.cursor) >= 0, sd_journal_next(j) > 0 {
            let here = current(j)
            if sd_journal_test_cursor(j, saved.cursor) > 0 || (here?.0 == saved.bootID && here?.1 == saved.monotonic) {
                noted = saved
                return // landed on the saved entry: reading continues after it
            }
            sd_journal_previous(j) // landed after it: read this one again
            return
        }
        if !firstStart {
            sd_journal_seek_head(j)
            return
        }
        if let lookback {
            var ts = timespec()
            clock_gettime(CLOCK_REALTIME, &ts)
            let now = UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec / 1000)
            sd_journal_seek_realtime_usec(j, now - UInt64(max(0, lookback)))
        } else {
            sd_journal_seek_tail(j)
            // On the last entry: remember it as read, so the first checkpoint already says
            // where this start began.
            if sd_journal_previous(j) > 0 { notePosition(j) }
        }
    }

    /// Waits up to `timeout` microseconds for new entries. When files were added or removed
    /// (rotation, vacuum), the reader finds its place again by the cursor of the last entry
    /// read: following a journal that rotated several times within a few seconds, reading
    /// on without it once skipped a whole rotated file (233,000 of 2,000,000 entries).
    public func wait(timeout: UInt64) {
        guard let j = journal else { return }
        let rc = sd_journal_wait(j, timeout)
        guard rc == Int32(SD_JOURNAL_INVALIDATE), let here = noted else { return }
        guard sd_journal_seek_cursor(j, here.cursor) >= 0 else { return }
        if sd_journal_next(j) > 0 {
            let cur = current(j)
            if sd_journal_test_cursor(j, here.cursor) <= 0 && !(cur?.0 == here.bootID && cur?.1 == here.monotonic) {
                sd_journal_previous(j) // landed after it: that entry is still to be read
            }
        }
    }

    private func current(_ j: OpaquePointer) -> (String, UInt64)? {
        var mono: UInt64 = 0
        var boot = sd_id128_t()
        guard sd_journal_get_monotonic_usec(j, &mono, &boot) >= 0 else { return nil }
        return (Self.hex(boot), mono)
    }

    private func notePosition(_ j: OpaquePointer) {
        var c: UnsafeMutablePointer<CChar>?
        guard sd_journal_get_cursor(j, &c) >= 0, let c else { return }
        defer { free(c) }
        if let (boot, mono) = current(j) {
            noted = Position(cursor: String(cString: c), bootID: boot, monotonic: mono)
        }
    }

    /// Event time: the sender's own timestamp when the entry has one, else the journal's.
    private func time(_ j: OpaquePointer) -> Int64? {
        if let s = field(j, "_SOURCE_REALTIME_TIMESTAMP"), let v = Int64(s.string) { return v }
        var usec: UInt64 = 0
        return sd_journal_get_realtime_usec(j, &usec) >= 0 ? Int64(usec) : nil
    }

    /// The value of a field of the current entry (borrowed: valid until the next call).
    private func field(_ j: OpaquePointer, _ name: StaticString) -> Bytes? {
        var data: UnsafeRawPointer?
        var length = 0
        // A string literal's storage ends with a NUL, so it is a C string.
        let cName = UnsafeRawPointer(name.utf8Start).assumingMemoryBound(to: CChar.self)
        let rc = sd_journal_get_data(j, cName, &data, &length)
        guard rc >= 0, let data else { return nil }
        let prefix = name.utf8CodeUnitCount + 1 // "FIELD="
        guard length >= prefix else { return nil }
        return Bytes(start: data.assumingMemoryBound(to: UInt8.self) + prefix, count: length - prefix)
    }
}
