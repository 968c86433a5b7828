#if canImport(Glibc)
import Glibc
#endif
import DeferWatchCore

/// Where a followed file was read up to: after the last complete line handed out.
public struct FileCheckpoint: Codable, Equatable, Sendable {
    public var path: String
    public var device: UInt64
    public var inode: UInt64
    public var offset: Int64
    /// FNV-1a of the file's first `fingerprintLength` bytes: tells a file that reuses an
    /// inode number from the one the checkpoint was taken on.
    public var fingerprint: UInt64
    public var fingerprintLength: Int
}

/// Follows one log file as it is written (`tail -F` with exactly-once positions). Rotation
/// by rename-and-create, by copytruncate and by delete-and-recreate is detected; the old file
/// is drained before the new one is read; a partial last line waits for its newline; a file
/// that does not exist yet is waited for. Poll-driven: the caller calls `poll` when it likes
/// (the daemon: every few hundred milliseconds), on one thread.
public final class FileFollower {
    public let path: String
    private var fd: Int32 = -1
    private var device: UInt64 = 0
    private var inode: UInt64 = 0
    /// Bytes read from the current file.
    private var offset: Int64 = 0
    private var splitter: LineSplitter
    private var resume: FileCheckpoint?
    private var start: Start
    /// When the file did not exist as the follower started: the identity of `path.1` then
    /// (nil: none). A `path.1` found at the first open that is another file was rotated
    /// away after the start, before it was ever opened: its lines are read first.
    private var rotatedAtStart: (device: UInt64, inode: UInt64)??
    private var fingerprint: (hash: UInt64, length: Int) = (0, 0)
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)

    public static let fingerprintBytes = 64

    /// Lines skipped for being too long.
    public var oversizedLines: Int { splitter.oversizedLines }

    /// Where a file is first read from when there is no checkpoint (the first start).
    public enum Start {
        case beginning
        case end
        /// The first line stamped at or after `time` (microseconds since the epoch);
        /// `lineTime` reads a line's timestamp (nil when it has none).
        case since(time: Int64, lineTime: (Bytes) -> Int64?)
    }

    /// - Parameters:
    ///   - checkpoint: where an earlier run stopped; if it names a file that was rotated
    ///     away since (`path.1`), that file is drained from there first.
    ///   - start: with no checkpoint, where in the existing file to begin (first start).
    public init(path: String, checkpoint: FileCheckpoint?, start: Start, maxLineLength: Int = 64 * 1024) {
        self.path = path
        resume = checkpoint
        // A file that does not exist yet is read from its first line when it appears.
        if access(path, F_OK) == 0 {
            self.start = start
        } else {
            self.start = .beginning
            var rs = stat()
            rotatedAtStart = stat(path + ".1", &rs) == 0 ? (UInt64(rs.st_dev), UInt64(rs.st_ino)) : .some(nil)
        }
        splitter = LineSplitter(maxLineLength: maxLineLength)
    }

    public convenience init(path: String, checkpoint: FileCheckpoint?, startAtEnd: Bool, maxLineLength: Int = 64 * 1024) {
        self.init(path: path, checkpoint: checkpoint, start: startAtEnd ? .end : .beginning, maxLineLength: maxLineLength)
    }

    deinit {
        if fd >= 0 { close(fd) }
        buffer.deallocate()
    }

    /// The position after the last complete line handed out, for the checkpoint store.
    public var checkpoint: FileCheckpoint? {
        guard fd >= 0 else {
            // Not open yet: the file is read from its start when it appears (inode 0).
            return resume ?? FileCheckpoint(path: path, device: 0, inode: 0, offset: 0, fingerprint: 0, fingerprintLength: 0)
        }
        return FileCheckpoint(path: path, device: device, inode: inode, offset: offset - Int64(splitter.pendingBytes),
                              fingerprint: fingerprint.hash, fingerprintLength: fingerprint.length)
    }

    /// Whether the file is open (false while it does not exist yet).
    public var isOpen: Bool { fd >= 0 }

    /// Bytes in the open file not read yet.
    public var unreadBytes: Int64 {
        guard fd >= 0 else { return 0 }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return 0 }
        return max(0, Int64(st.st_size) - offset)
    }

    /// True when the last `poll` stopped at its byte budget with more to read.
    public private(set) var hasMore = false

    /// Reads what is new (at most `budget` bytes, so a caller with a backlog gets to save
    /// checkpoints between polls), calling `body` with each complete line. Returns how many.
    @discardableResult
    public func poll(budget: Int = Int.max, _ body: (Bytes) -> Void) throws(InputError) -> Int {
        var count = 0
        readBudget = budget
        hasMore = false
        let emit: (Bytes) -> Void = { count += 1; body($0) }
        if fd < 0 {
            guard try openInitial(emit) else { return 0 }
        } else {
            try handleTruncation(emit)
        }
        try drain(emit)
        if hasMore { return count }
        // Rotation?
        var st = stat()
        if stat(path, &st) != 0 {
            let e = errno
            if e == ENOENT { return count } // deleted: keep the old file until a new one appears
            throw InputError(path: path, operation: "cannot stat", errno: e)
        }
        if UInt64(st.st_dev) != device || UInt64(st.st_ino) != inode {
            // Renamed away (or deleted) and a new file created: finish the old one first.
            try drainWhole(emit)
            splitter.finish(emit)
            close(fd)
            fd = -1
            try open(path, from: 0)
            try drain(emit)
        }
        return count
    }

    /// copytruncate: the file was emptied under us (it is shorter than what was read, or its
    /// first bytes changed because it was emptied and written again since the last poll).
    /// What was written after the last read went to the copy, `path.1`: that tail is read
    /// from the copy first (when its first bytes show it is the copy of this file), then
    /// the emptied file from its beginning.
    private func handleTruncation(_ emit: (Bytes) -> Void) throws(InputError) {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return }
        let size = Int64(st.st_size)
        let truncated: Bool
        if size < offset {
            truncated = true
        } else if fingerprint.length > 0 {
            let now = Self.fingerprint(fd: fd, length: fingerprint.length)
            truncated = now.length < fingerprint.length || now.hash != fingerprint.hash
        } else {
            truncated = false
        }
        guard truncated else { return }
        let copy = Glibc.open(path + ".1", O_RDONLY | O_CLOEXEC)
        if copy >= 0 {
            var cs = stat()
            fstat(copy, &cs)
            let same = Self.fingerprint(fd: copy, length: fingerprint.length)
            if UInt64(cs.st_ino) != inode, fingerprint.length > 0, same == fingerprint, Int64(cs.st_size) > offset {
                let mine = fd
                fd = copy
                lseek(copy, off_t(offset), SEEK_SET)
                let budget = readBudget
                readBudget = Int.max
                try drain(emit)
                readBudget = budget
                fd = mine
            }
            close(copy)
        }
        splitter.finish(emit)
        splitter.reset()
        lseek(fd, 0, SEEK_SET)
        offset = 0
        fingerprint = (0, 0)
    }

    /// On a first start (no checkpoint), opens the file now and fixes where reading begins
    /// (its end, or the first line in the lookback), so that lines written from this moment
    /// on are read, however late the first `poll` comes, and a checkpoint taken before that
    /// poll already holds the position. Nothing to do with a checkpoint or without the file.
    public func pinStart() throws(InputError) {
        guard fd < 0, resume == nil else { return }
        // Without a checkpoint, opening hands out no line.
        _ = try openInitial { _ in }
    }

    /// First open: resume from the checkpoint (draining a rotated-away file first), or start.
    private func openInitial(_ emit: (Bytes) -> Void) throws(InputError) -> Bool {
        var st = stat()
        let exists = stat(path, &st) == 0
        if let cp = resume, cp.inode == 0 {
            resume = nil
            start = .beginning
        }
        if let cp = resume {
            resume = nil
            if exists && UInt64(st.st_dev) == cp.device && UInt64(st.st_ino) == cp.inode {
                try open(path, from: cp.offset)
                // Truncated while deferwatch was down (copytruncate), or the inode number
                // was reused by another file: the first bytes tell.
                fingerprint = (cp.fingerprint, cp.fingerprintLength)
                try handleTruncation(emit)
                return true
            }
            // The checkpointed file was rotated: look for it under the usual rotated name.
            let rotated = path + ".1"
            var rs = stat()
            if stat(rotated, &rs) == 0 && UInt64(rs.st_dev) == cp.device && UInt64(rs.st_ino) == cp.inode {
                try open(rotated, from: cp.offset, expect: cp)
                try drainWhole(emit)
                splitter.finish(emit)
                close(fd)
                fd = -1
            }
            guard exists else { return false }
            try open(path, from: 0)
            return true
        }
        guard exists else { return false }
        if case .some(let before) = rotatedAtStart {
            rotatedAtStart = nil
            // Created and already rotated away (renamed, or copied and truncated) before
            // the first poll: that file comes first.
            let rotated = path + ".1"
            var rs = stat()
            if stat(rotated, &rs) == 0, before.map({ $0.device != UInt64(rs.st_dev) || $0.inode != UInt64(rs.st_ino) }) ?? true {
                try open(rotated, from: 0)
                try drainWhole(emit)
                splitter.finish(emit)
                close(fd)
                fd = -1
            }
        }
        try open(path, from: 0)
        switch start {
        case .beginning: break
        case .end: seek(to: Int64(st.st_size))
        case .since(let time, let lineTime): seek(to: Self.firstLine(fd: fd, size: Int64(st.st_size), since: time, lineTime: lineTime))
        }
        start = .beginning
        return true
    }

    private func seek(to position: Int64) {
        lseek(fd, off_t(position), SEEK_SET)
        offset = position
    }

    private func open(_ p: String, from start: Int64, expect: FileCheckpoint? = nil) throws(InputError) {
        let f = Glibc.open(p, O_RDONLY | O_CLOEXEC)
        if f < 0 { throw InputError(path: p, operation: "cannot open", errno: errno) }
        var st = stat()
        fstat(f, &st)
        fd = f
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        fingerprint = Self.fingerprint(fd: f, length: Self.fingerprintBytes)
        var from = start
        if let cp = expect {
            // Same inode number but other content (the inode was reused): read it all.
            let now = Self.fingerprint(fd: f, length: cp.fingerprintLength)
            if now.length < cp.fingerprintLength || now.hash != cp.fingerprint || Int64(st.st_size) < cp.offset { from = 0 }
        }
        lseek(f, off_t(from), SEEK_SET)
        offset = from
        splitter.reset()
    }

    private var readBudget = Int.max

    /// A rotated-away file about to be closed: read to its end whatever the budget (it is
    /// not reopened by the next poll, so what is left unread would be lost).
    private func drainWhole(_ emit: (Bytes) -> Void) throws(InputError) {
        let budget = readBudget
        readBudget = Int.max
        defer { readBudget = max(0, budget) }
        try drain(emit)
    }

    private func drain(_ emit: (Bytes) -> Void) throws(InputError) {
        while true {
            if readBudget <= 0 {
                hasMore = true
                return
            }
            let n = read(fd, buffer.baseAddress, min(buffer.count, readBudget))
            if n < 0 {
                if errno == EINTR { continue }
                throw InputError(path: path, operation: "read failed", errno: errno)
            }
            if n == 0 { break }
            readBudget -= n
            offset += Int64(n)
            splitter.feed(UnsafeRawBufferPointer(start: buffer.baseAddress, count: n), emit)
            if fingerprint.length < Self.fingerprintBytes {
                fingerprint = Self.fingerprint(fd: fd, length: Self.fingerprintBytes)
            }
        }
    }

    /// FNV-1a of the first `length` bytes (fewer if the file is shorter), read with pread.
    static func fingerprint(fd: Int32, length: Int) -> (hash: UInt64, length: Int) {
        var bytes = [UInt8](repeating: 0, count: max(0, length))
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, length, 0) }
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes.prefix(max(0, n)) { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return (h, max(0, n))
    }
}
