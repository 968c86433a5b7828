#if canImport(Glibc)
import Glibc
#endif
import DeferWatchCore

/// One input of `deferwatch run`, read a slice at a time into the engine: a followed file,
/// the journal, or in the in-process tests a log kept in memory (MemoryLog.swift).
public protocol LogSource: AnyObject {
    /// The file's path, the journal's directory, the memory log's name.
    var name: String { get }
    /// What the status calls it: "file" or "journal".
    var kind: String { get }
    /// Reads at most one slice into `engine`; true when more is waiting. A source that
    /// throws is in that error until it reads again.
    func read(into engine: inout Engine) throws(InputError) -> Bool
    /// What the checkpoint keeps of it.
    var position: SourcePosition { get }
    /// Bytes written and not read yet; nil where that is not known (the journal).
    var unreadBytes: Int64? { get }
    /// Lines skipped for being over the length limit.
    var oversizedLines: Int { get }
    /// Entries that could not be read (a damaged journal file).
    var unreadable: Int { get }
    /// The status's state when the source is in no error ("following", "waiting for the file").
    var state: String { get }
    /// Said after "following NAME" in the line at the start ("" or " (WHY)").
    var startNote: String { get }
    /// Waits up to `microseconds` for input to come; false when it cannot wait for its
    /// input (the caller sleeps instead).
    func wait(microseconds: UInt64) -> Bool
}

/// Where a source was read up to, as the checkpoint keeps it.
public enum SourcePosition {
    case file(FileCheckpoint?)
    case journal(JournalReader.Position?)

    /// As the status shows it: a file's offset, the journal's cursor.
    var shown: String {
        switch self {
        case .file(let c): return c.map { String($0.offset) } ?? "0"
        case .journal(let p): return p?.cursor ?? ""
        }
    }
}

extension FileFollower: LogSource {
    public var name: String { path }
    public var kind: String { "file" }

    public func read(into engine: inout Engine) throws(InputError) -> Bool {
        _ = try poll(budget: SourceSet.fileBudget) { line in engine.ingest(line: line) }
        return hasMore
    }

    public var position: SourcePosition { .file(checkpoint) }
    public var unreadBytes: Int64? { unreadFileBytes }
    public var unreadable: Int { 0 }
    public var state: String { isOpen ? "following" : access(path, F_OK) == 0 ? "starting" : "waiting for the file" }
    public var startNote: String { "" }
    public func wait(microseconds: UInt64) -> Bool { false }
}

extension JournalReader: LogSource {
    public var name: String { path }
    public var kind: String { "journal" }

    public func read(into engine: inout Engine) throws(InputError) -> Bool {
        let skippedBefore = entries - mailEntries
        defer { engine.countSkipped(otherProgramEntries: (entries - mailEntries) - skippedBefore) }
        return try readToEnd(limit: SourceSet.journalBudget) { record in engine.ingest(record: record) }
    }

    public var position: SourcePosition { .journal(cursorPosition) }
    public var unreadBytes: Int64? { nil }
    public var oversizedLines: Int { 0 }
    public var state: String { hasFiles ? "following" : "no journal files to read (is journald running, and may deferwatch read its files?)" }
    public var startNote: String { hasFiles ? "" : " (NO JOURNAL FILES TO READ)" }
    public func wait(microseconds: UInt64) -> Bool {
        wait(timeout: microseconds)
        return true
    }
}
