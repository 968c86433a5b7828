#if canImport(Glibc)
import Glibc
#endif
import DeferWatchCore

/// A file's identity on this host: it stays with the file through renames.
struct FileIdentity: Hashable {
    var device: UInt64
    var inode: UInt64

    init(device: UInt64, inode: UInt64) {
        self.device = device
        self.inode = inode
    }

    init(_ st: stat) {
        self.init(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    }

    init(_ cp: FileCheckpoint) {
        self.init(device: cp.device, inode: cp.inode)
    }
}

/// The first bytes of a file, hashed: tells a file from another that reuses its inode
/// number, and a copy (copytruncate) from the file it was copied from.
struct Fingerprint: Equatable {
    var hash: UInt64
    var length: Int

    static let none = Fingerprint(hash: 0, length: 0)

    /// FNV-1a of the first `length` bytes (fewer if the file is shorter), read with pread.
    init(fd: Int32, length: Int) {
        var bytes = [UInt8](repeating: 0, count: max(0, length))
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, max(0, length), 0) }
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes.prefix(max(0, n)) { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        hash = h
        self.length = max(0, n)
    }

    init(hash: UInt64, length: Int) {
        self.hash = hash
        self.length = length
    }

    /// Whether both are of a full-length start (shorter prints say too little).
    var isFull: Bool { length >= FileFollower.fingerprintBytes }
}

/// One open log file: where it was read up to, and its partial last line.
final class LogFile {
    let fd: Int32
    let identity: FileIdentity
    /// The name it was opened by.
    let name: String
    private(set) var offset: Int64 = 0
    private var splitter: LineSplitter
    var fingerprint: Fingerprint
    /// The follower's clock when it last grew (or was opened, or seen rotated away).
    var lastGrowth: Int64

    /// Opens `name` when it is a regular file. A directory or a FIFO at a log's path is an
    /// error (and opening never blocks), so a poll goes on when the path is a file again.
    init(opening name: String, maxLineLength: Int, clock: Int64) throws(InputError) {
        let f = Glibc.open(name, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        if f < 0 { throw InputError(path: name, operation: "cannot open", errno: errno) }
        var st = stat()
        if fstat(f, &st) != 0 {
            let e = errno
            close(f)
            throw InputError(path: name, operation: "cannot stat", errno: e)
        }
        guard st.st_mode & S_IFMT == S_IFREG else {
            close(f)
            throw InputError(path: name, operation: "cannot follow", detail: "not a regular file")
        }
        fd = f
        identity = FileIdentity(st)
        self.name = name
        splitter = LineSplitter(maxLineLength: maxLineLength)
        fingerprint = Fingerprint(fd: f, length: FileFollower.fingerprintBytes)
        lastGrowth = clock
    }

    deinit { close(fd) }

    /// The name and identity, for the notes: "/var/log/mail.log.1 (inode 1234)".
    var describe: String { "\(name) (inode \(identity.inode))" }

    var size: Int64 {
        var st = stat()
        return fstat(fd, &st) == 0 ? Int64(st.st_size) : offset
    }

    var oversizedLines: Int { splitter.oversizedLines }

    func seek(to position: Int64) {
        lseek(fd, off_t(position), SEEK_SET)
        offset = position
        splitter.reset()
    }

    /// Goes on from where an earlier run stopped, or from the start when the first bytes
    /// (or a shorter size) show it is another file than the checkpoint's.
    func resume(from cp: FileCheckpoint) {
        let now = Fingerprint(fd: fd, length: cp.fingerprintLength)
        let same = now.length == cp.fingerprintLength && now.hash == cp.fingerprint && size >= cp.offset
        seek(to: same ? cp.offset : 0)
    }

    /// The position after the last complete line handed out.
    func checkpoint(as path: String) -> FileCheckpoint {
        FileCheckpoint(path: path, device: identity.device, inode: identity.inode,
                       offset: lineStart,
                       fingerprint: fingerprint.hash, fingerprintLength: fingerprint.length)
    }

    /// Reads what is new, at most `budget` bytes. Returns true when it stopped at the budget
    /// with more to read.
    func read(budget: inout Int, buffer: UnsafeMutableRawBufferPointer, clock: Int64,
              _ emit: (Bytes) -> Void) throws(InputError) -> Bool {
        while true {
            if budget <= 0 { return size > offset }
            let n = Glibc.read(fd, buffer.baseAddress, min(buffer.count, budget))
            if n < 0 {
                if errno == EINTR { continue }
                throw InputError(path: name, operation: "read failed", errno: errno)
            }
            if n == 0 { return false }
            budget -= n
            offset += Int64(n)
            lastGrowth = clock
            splitter.feed(UnsafeRawBufferPointer(start: buffer.baseAddress, count: n), emit)
            if fingerprint.length < FileFollower.fingerprintBytes {
                fingerprint = Fingerprint(fd: fd, length: FileFollower.fingerprintBytes)
            }
        }
    }

    /// Hands out a last line that never got its newline (the file is no longer written).
    func finish(_ emit: (Bytes) -> Void) { splitter.finish(emit) }

    /// The file was emptied under us (copytruncate): read it again from its start. The
    /// partial line it held is handed out, unless its rest was read from the copy.
    func restart(_ emit: (Bytes) -> Void, handOutPartialLine: Bool = true) {
        if handOutPartialLine { splitter.finish(emit) }
        seek(to: 0)
        fingerprint = .none
    }

    /// Where the partial line held (if any) begins.
    var lineStart: Int64 { offset - Int64(splitter.pendingBytes) }
}

/// The names logrotate gives a rotated log in its own directory: `mail.log.1`,
/// `mail.log-20261201`, `mail.log.2026-12-01`. Compressed ones (`.gz`, ...) cannot be
/// followed and are not listed; nor are other directories (`olddir`).
enum RotatedNames {
    struct Sibling {
        var name: String
        var identity: FileIdentity
        /// Last modification, in nanoseconds since the epoch.
        var mtime: Int64
        var size: Int64
        /// `path.N`'s N (a higher number is older).
        var number: Int?
    }

    /// Whether `name` (a file name in the log's directory) is a rotated name of `base`.
    static func isRotated(_ name: String, of base: String) -> Bool {
        guard name.count > base.count + 1, name.hasPrefix(base) else { return false }
        let rest = name.utf8.dropFirst(base.utf8.count)
        guard let sep = rest.first, sep == UInt8(ascii: ".") || sep == UInt8(ascii: "-") || sep == UInt8(ascii: "_") else { return false }
        var digits = 0
        for b in rest.dropFirst() {
            if b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") { digits += 1; continue }
            guard b == UInt8(ascii: "-") || b == UInt8(ascii: "_") || b == UInt8(ascii: ".") else { return false }
        }
        return digits > 0
    }

    /// The regular files with a rotated name of `path`, oldest first (by modification time,
    /// then a higher number first, then by name).
    static func siblings(of path: String) -> [Sibling] {
        let (dir, base) = splitPath(path)
        guard !base.isEmpty, let d = opendir(dir) else { return [] }
        defer { closedir(d) }
        var out: [Sibling] = []
        while let e = readdir(d) {
            let name = withUnsafePointer(to: &e.pointee.d_name) {
                String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            guard isRotated(name, of: base) else { continue }
            let full = dir == "/" ? "/" + name : dir + "/" + name
            var st = stat()
            guard stat(full, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { continue }
            let suffix = name.dropFirst(base.count + 1)
            out.append(Sibling(name: full, identity: FileIdentity(st), mtime: Int64(st.st_mtim.tv_sec) &* 1_000_000_000 &+ Int64(st.st_mtim.tv_nsec),
                               size: Int64(st.st_size), number: Int(suffix)))
            if out.count >= 1000 { break }
        }
        return out.sorted {
            if $0.mtime != $1.mtime { return $0.mtime < $1.mtime }
            if let a = $0.number, let b = $1.number, a != b { return a > b }
            return $0.name < $1.name
        }
    }
}

/// A path's directory ("." when it has none, "/" at the root) and its last component.
func splitPath(_ path: String) -> (directory: String, name: String) {
    guard let slash = path.lastIndex(of: "/") else { return (".", path) }
    let dir = slash == path.startIndex ? "/" : String(path[..<slash])
    return (dir, String(path[path.index(after: slash)...]))
}
