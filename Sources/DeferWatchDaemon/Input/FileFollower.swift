#if canImport(Glibc)
import Glibc
#endif
import DeferWatchCore

/// Follows one log file as it is written (`tail -F` with exactly-once positions), by the
/// identity of the open file rather than by its name:
///
/// - rename-and-create: the renamed file is read on until it has been quiet for
///   `rotatedQuiet` (a writer that reopens late, rsyslog before its HUP), then closed;
/// - several rotations between two polls: files with a rotated name of the path
///   (`path.N`, `path-DATE`) modified since the last poll are the logs no poll saw, and
///   are read, oldest first;
/// - copytruncate: the unread tail is read from the copy, then the emptied file anew;
/// - delete-and-recreate, a symlink moved to another target: as a rename;
/// - a path that does not exist yet, or is briefly a directory or unreadable: waited for,
///   and the file that comes is read from its start.
///
/// Poll-driven, on one thread. The clock (microseconds) is the caller's, for the tests.
public final class FileFollower {
    public let path: String
    var current: LogFile?
    /// Files that were the log once and may still be written: oldest first.
    var rotated: [LogFile] = []
    /// Files read to their end and closed, and copies left by copytruncate: a scan of the
    /// rotated names must not read them again. The newest few.
    var done: [(identity: FileIdentity, fingerprint: Fingerprint)] = []
    var resumeFrom: FileCheckpoint?
    var start: Start
    /// A sibling with a rotated name modified after this (wall clock, ns) may be a file
    /// that was the log while no poll saw it.
    var gapFloor: Int64
    /// When the path did not exist as the follower started: the rotated files there then.
    var siblingsAtStart: Set<FileIdentity>?
    /// Whether a file was followed at the path before (so files rotated while the path was
    /// missing are looked for).
    var everOpened = false
    let rotatedQuiet: Int64
    let clock: () -> Int64
    let maxLineLength: Int
    var closedOversized = 0
    /// Told what the follower does with files (rotations seen, files adopted, resumed,
    /// closed), one sentence each: the daemon puts them on stderr, for the operator.
    public var note: ((String) -> Void)?
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)

    public static let fingerprintBytes = 64
    /// Files read to their end that a checkpoint keeps (the newest).
    public static let savedRead = 16
    /// Rotated files read at once; beyond, the oldest is read to its end and closed.
    public static let maxRotated = 16
    /// Modification times are compared with this much slack (coarse file-system clocks).
    static let mtimeSlack: Int64 = 2_000_000_000

    /// Where a file is first read from when there is no checkpoint (the first start).
    public enum Start {
        case beginning
        case end
        /// The first line stamped at or after `time` (microseconds since the epoch);
        /// `lineTime` reads a line's timestamp (nil when it has none).
        case since(time: Int64, lineTime: (Bytes) -> Int64?)
    }

    /// - Parameters:
    ///   - checkpoint: where an earlier run stopped; files rotated away since are found by
    ///     their rotated names and read from there first.
    ///   - start: with no checkpoint, where in the existing file to begin (first start).
    ///   - rotatedQuiet: how long a rotated-away file must be quiet before it is closed.
    public init(path: String, checkpoint: FileCheckpoint?, start: Start, maxLineLength: Int = 64 * 1024,
                rotatedQuiet: Int64 = 10_000_000, clock: @escaping () -> Int64 = monotonicMicroseconds) {
        self.path = path
        resumeFrom = checkpoint
        self.maxLineLength = maxLineLength
        self.rotatedQuiet = rotatedQuiet
        self.clock = clock
        gapFloor = wallNanoseconds()
        // A file that does not exist yet is read from its first line when it appears.
        if access(path, F_OK) == 0 {
            self.start = start
        } else {
            self.start = .beginning
            siblingsAtStart = Set(RotatedNames.siblings(of: path).map(\.identity))
        }
    }

    public convenience init(path: String, checkpoint: FileCheckpoint?, startAtEnd: Bool, maxLineLength: Int = 64 * 1024) {
        self.init(path: path, checkpoint: checkpoint, start: startAtEnd ? .end : .beginning, maxLineLength: maxLineLength)
    }

    deinit { buffer.deallocate() }

    /// The positions after the last complete line handed out, for the checkpoint store.
    public var checkpoint: FileCheckpoint? {
        var cp = current?.checkpoint(as: path)
            // Not open: the file is read from its start when it appears (inode 0).
            ?? resumeFrom ?? FileCheckpoint(path: path, device: 0, inode: 0, offset: 0, fingerprint: 0, fingerprintLength: 0)
        if current != nil || !rotated.isEmpty {
            cp.rotated = rotated.isEmpty ? nil : rotated.map { $0.checkpoint(as: $0.name) }
            cp.seenAt = gapFloor
        }
        if !done.isEmpty {
            cp.read = done.suffix(Self.savedRead).map {
                FileCheckpoint.ReadFile(device: $0.identity.device, inode: $0.identity.inode,
                                        fingerprint: $0.fingerprint.hash, fingerprintLength: $0.fingerprint.length)
            }
        }
        return cp
    }

    /// Whether the file at the path is open (false while it does not exist yet).
    public var isOpen: Bool { current != nil }

    /// Files open: the one at the path and the rotated ones still read.
    public var openFiles: Int { rotated.count + (current == nil ? 0 : 1) }

    /// Lines skipped for being too long.
    public var oversizedLines: Int {
        closedOversized + rotated.reduce(0) { $0 + $1.oversizedLines } + (current?.oversizedLines ?? 0)
    }

    /// Bytes in the open files not read yet.
    public var unreadFileBytes: Int64 {
        (rotated + (current.map { [$0] } ?? [])).reduce(0) { $0 + max(0, $1.size - $1.offset) }
    }

    /// True when the last `poll` stopped at its byte budget with more to read.
    public private(set) var hasMore = false

    /// Reads what is new (at most `budget` bytes, so a caller with a backlog gets to save
    /// checkpoints between polls), calling `body` with each complete line: the rotated
    /// files first, oldest first, then the file at the path. Returns how many lines. An
    /// error (the path unreadable, or not a file) is thrown after the open files were read.
    @discardableResult
    public func poll(budget: Int = Int.max, _ body: (Bytes) -> Void) throws(InputError) -> Int {
        var count = 0
        var budget = budget
        hasMore = false
        let emit: (Bytes) -> Void = { count += 1; body($0) }
        let now = clock()
        var failure: InputError?
        do {
            if current == nil { try openInitial(now: now) } else { try lookAtPath(now: now) }
        } catch {
            failure = error
        }
        for f in rotated where !hasMore {
            do {
                hasMore = try f.read(budget: &budget, buffer: buffer, clock: now, emit)
            } catch {
                // A rotated file that cannot be read is given up.
                failure = failure ?? error
                f.lastGrowth = Int64.min
            }
        }
        if !hasMore, let c = current {
            do {
                handleTruncation(c, now: now, emit)
                hasMore = try c.read(budget: &budget, buffer: buffer, clock: now, emit)
            } catch {
                // Kept, and read again from where it stands by the next poll (reopening it
                // from the path would read it all again).
                failure = failure ?? error
            }
        }
        if !hasMore { closeQuiet(now: now, emit) }
        if let failure { throw failure }
        return count
    }

    /// Whether the path still names the open file; if another file is there now, the open
    /// one was rotated away: it is read on (until quiet) and the new one from its start.
    private func lookAtPath(now: Int64) throws(InputError) {
        guard let c = current else { return }
        var st = stat()
        if stat(path, &st) != 0 {
            let e = errno
            guard e == ENOENT else { throw InputError(path: path, operation: "cannot stat", errno: e) }
            // Renamed or deleted: the open file is read on, as a rotated one, and the file
            // that appears at the path is read from its start.
            rotateAway(c, now: now)
            adoptGapFiles(since: gapFloor, excluding: nil, now: now)
            return
        }
        let id = FileIdentity(st)
        if id == c.identity {
            gapFloor = wallNanoseconds()
            return
        }
        rotateAway(c, now: now)
        adoptGapFiles(since: gapFloor, excluding: id, now: now)
        try openCurrent(now: now)
    }

    /// The open file is no longer at the path: read on until it has been quiet for
    /// `rotatedQuiet` from now.
    private func rotateAway(_ c: LogFile, now: Int64) {
        note?("\(path) was rotated away (inode \(c.identity.inode)): read on until quiet, from offset \(c.offset)")
        c.lastGrowth = now
        rotated.append(c)
        current = nil
        start = .beginning
        everOpened = true
    }

    /// Opens the file at the path, from its start.
    func openCurrent(now: Int64, said: Bool = true) throws(InputError) {
        let f = try LogFile(opening: path, maxLineLength: maxLineLength, clock: now)
        // A file being read as rotated is at the path again (a symlink moved back, a file
        // renamed back): it goes on from where it stands, not from its start.
        if let i = rotated.firstIndex(where: { $0.identity == f.identity }) {
            let back = rotated.remove(at: i)
            current = back
            note?("\(back.describe) is at the path again; read on from offset \(back.offset)")
        } else {
            current = f
            if said { note?("reading \(f.describe) from its start") }
        }
        gapFloor = wallNanoseconds()
        everOpened = true
    }
}
