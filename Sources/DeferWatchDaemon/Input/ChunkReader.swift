#if canImport(Glibc)
import Glibc
#endif
import CZlib

/// Reads a whole input, plain or gzip-compressed (detected by its magic bytes, not its name),
/// and hands it out in chunks. `-` is standard input. Errors say which file and why; bytes
/// read before an error have already been delivered.
public struct ChunkReader {
    public static let chunkSize = 1 << 20

    public let path: String

    public init(path: String) { self.path = path }

    public struct Info: Sendable {
        public var size: Int64
        /// Modification time, seconds since the epoch.
        public var mtime: Int64
        public var isStdin: Bool
    }

    /// Opens the input and checks that it is a readable regular file (or a pipe, for stdin).
    public func open() throws(InputError) -> (fd: Int32, info: Info) {
        if path == "-" {
            var st = stat()
            let size: Int64 = fstat(0, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG ? Int64(st.st_size) : 0
            return (0, Info(size: size, mtime: Int64(time(nil)), isStdin: true))
        }
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw InputError(path: path, operation: "cannot open", errno: Glibc.errno) }
        var st = stat()
        if fstat(fd, &st) != 0 {
            let e = Glibc.errno
            close(fd)
            throw InputError(path: path, operation: "cannot stat", errno: e)
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            close(fd)
            throw InputError(path: path, operation: "cannot read", detail: "is a directory (give the log files inside it)")
        }
        return (fd, Info(size: Int64(st.st_size), mtime: Int64(st.st_mtim.tv_sec), isStdin: false))
    }

    /// Reads `fd` to its end, decompressing gzip, calling `body` with each chunk of text.
    /// `progress` gets the number of raw bytes read so far. With a `budget`, a gzip file
    /// that fits in it is inflated whole by libdeflate (`WholeGzip`), the same text faster.
    public func read(fd: Int32, body: (UnsafeRawBufferPointer) -> Void, progress: ((Int64) -> Void)? = nil,
                     closes: Bool = true, budget: InflateBudget? = nil) throws(InputError) {
        defer { if closes && fd != 0 { close(fd) } }
        if let budget, path != "-", WholeGzip.read(fd: fd, budget: budget, body: body, progress: progress) { return }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        var total: Int64 = 0
        var first = true
        var inflater: Inflater?
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n < 0 {
                if Glibc.errno == EINTR { continue }
                throw InputError(path: path, operation: "read failed", errno: Glibc.errno)
            }
            if n == 0 { break }
            total += Int64(n)
            progress?(total)
            let chunk = UnsafeRawBufferPointer(start: buffer.baseAddress, count: n)
            if first {
                first = false
                if n >= 2, chunk[0] == 0x1F, chunk[1] == 0x8B { inflater = try Inflater(path: path) }
            }
            if inflater != nil {
                try inflater!.feed(chunk, body)
            } else {
                body(chunk)
            }
        }
        if let inflater { try inflater.finish() }
    }
}

/// Streaming gzip decompression (concatenated members too) through zlib.
final class Inflater {
    private var stream = z_stream()
    private let out: UnsafeMutablePointer<UInt8>
    private let outSize = 1 << 20
    private let path: String
    private var ended = false

    init(path: String) throws(InputError) {
        self.path = path
        out = .allocate(capacity: outSize)
        // 15 + 32: zlib or gzip header, detected automatically.
        let rc = inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        if rc != Z_OK {
            out.deallocate()
            throw InputError(path: path, operation: "cannot start gzip decompression", detail: "zlib error \(rc)")
        }
    }

    deinit {
        inflateEnd(&stream)
        out.deallocate()
    }

    func feed(_ chunk: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void) throws(InputError) {
        guard let base = chunk.baseAddress else { return }
        stream.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: UInt8.self))
        stream.avail_in = UInt32(chunk.count)
        while true {
            if ended {
                guard stream.avail_in > 0 else { return }
                // Another gzip member follows (files concatenated with cat).
                inflateReset(&stream)
                ended = false
            }
            stream.next_out = out
            stream.avail_out = UInt32(outSize)
            let rc = inflate(&stream, Z_NO_FLUSH)
            let produced = outSize - Int(stream.avail_out)
            if produced > 0 { body(UnsafeRawBufferPointer(start: out, count: produced)) }
            if rc == Z_STREAM_END {
                ended = true
                continue
            }
            guard rc == Z_OK || rc == Z_BUF_ERROR else {
                let msg = stream.msg.map { String(cString: $0) } ?? "zlib error \(rc)"
                throw InputError(path: path, operation: "corrupt gzip data", detail: msg)
            }
            // Output space left over means all the input it could use was used.
            if stream.avail_out != 0 { return }
        }
    }

    func finish() throws(InputError) {
        if !ended {
            throw InputError(path: path, operation: "truncated gzip file", detail: "the compressed stream ends early; the lines before the cut were read")
        }
    }
}
