#if canImport(Glibc)
import Glibc
#endif
import CSystemd
import DeferWatchCore

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

    /// Whether a syslog identifier is one deferwatch reads.
    static func isMail(_ identifier: Bytes) -> Bool {
        PostfixParser.isPostfix(program: identifier) || EximParser.isExim(program: identifier)
    }

    // Fields are copied out: libsystemd's data pointer is valid only until the next get_data.
    private var identifier: [UInt8] = []
    private var message: [UInt8] = []
    private var host: [UInt8] = []

    /// Calls `body` with every mail entry from the current position to the end.
    public func readToEnd(_ body: (LogRecord) -> Void) throws(InputError) {
        guard let j = journal else { return }
        while true {
            let rc = sd_journal_next(j)
            if rc < 0 { throw InputError(path: path, operation: "cannot read journal", errno: -rc) }
            if rc == 0 { return }
            entries += 1
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

    private func copy(_ j: OpaquePointer, _ name: StaticString, into buffer: inout [UInt8]) -> Bool {
        guard let b = field(j, name) else { return false }
        buffer.removeAll(keepingCapacity: true)
        buffer.append(contentsOf: b)
        return true
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
