import DeferWatchCore

/// A log kept in memory, for driving the daemon in-process: the test appends text to it,
/// and it outlives the daemons that read it, as a file outlives a restart. A
/// `MemoryLogSource` reads it from a checkpoint, as a FileFollower reads a file.
/// One thread only: the test's, which also drives the runner.
public final class MemoryLog {
    public let name: String
    private var bytes: [UInt8] = []

    public init(name: String) { self.name = name }

    public func append(_ text: String) { bytes += Array(text.utf8) }

    public var count: Int { bytes.count }

    /// Runs `body` over the bytes from `offset` on.
    func withBytes<R>(from offset: Int, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        bytes.withUnsafeBufferPointer { all in body(all.slice(min(offset, all.count), all.count)) }
    }
}

/// Reads a MemoryLog line by line, a slice at a time; its checkpoint is a file checkpoint
/// with the log's name as its path. Without one (a first start) it begins at the end of the
/// log, as the file follower does, or at its start with `fromStart`.
public final class MemoryLogSource: LogSource {
    public let log: MemoryLog
    private var offset: Int
    public private(set) var oversizedLines = 0
    /// At most this many bytes a slice (the file follower's budget is 8 MiB).
    public var budget: Int
    public static let maxLineLength = 64 * 1024

    public init(log: MemoryLog, checkpoint: FileCheckpoint?, fromStart: Bool = false, budget: Int = 1 << 20) {
        self.log = log
        self.budget = max(1, budget)
        if let c = checkpoint, c.offset >= 0, c.offset <= Int64(log.count) {
            offset = Int(c.offset)
        } else {
            offset = fromStart ? 0 : log.count
        }
    }

    public var name: String { log.name }
    public var kind: String { "file" }

    public func read(into engine: inout Engine) throws(InputError) -> Bool {
        let used = log.withBytes(from: offset) { rest -> Int in
            var at = 0
            while at < rest.count && at < budget, let nl = rest.index(of: UInt8(ascii: "\n"), from: at) {
                if nl - at > Self.maxLineLength { oversizedLines += 1 } else { engine.ingest(line: rest.slice(at, nl)) }
                at = nl + 1
            }
            return at
        }
        offset += used
        return log.withBytes(from: offset) { $0.index(of: UInt8(ascii: "\n")) != nil }
    }

    public var position: SourcePosition {
        .file(FileCheckpoint(path: log.name, device: 0, inode: 0, offset: Int64(offset), fingerprint: 0, fingerprintLength: 0))
    }
    public var unreadBytes: Int64? { Int64(log.count - offset) }
    public var unreadable: Int { 0 }
    public var state: String { "following" }
    public var startNote: String { "" }
    public func wait(microseconds: UInt64) -> Bool { false }
}
