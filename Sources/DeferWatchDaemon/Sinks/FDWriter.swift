#if canImport(Glibc)
import Glibc
#endif

/// Buffered writes to a file descriptor (stdout for `--events`), with short writes and
/// EINTR handled. A closed pipe (`| head`) ends the writing quietly: `closed` turns true.
public final class FDWriter {
    public let fd: Int32
    private var buffer: [UInt8] = []
    private let limit: Int
    public private(set) var closed = false

    public init(fd: Int32, bufferSize: Int = 256 * 1024) {
        self.fd = fd
        limit = bufferSize
        buffer.reserveCapacity(bufferSize + 4096)
    }

    deinit { flush() }

    public func write(_ bytes: [UInt8]) {
        buffer.append(contentsOf: bytes)
        if buffer.count >= limit { flush() }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) {
        buffer.append(contentsOf: bytes)
        if buffer.count >= limit { flush() }
    }

    public func write(_ s: String) { write(Array(s.utf8)) }

    public func flush() {
        guard !buffer.isEmpty, !closed else { buffer.removeAll(keepingCapacity: true); return }
        var off = 0
        buffer.withUnsafeBytes { raw in
            while off < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 {
                    if errno == EINTR || errno == EAGAIN { continue }
                    closed = true
                    return
                }
                off += n
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }
}

/// Writes a line to standard error at once (diagnostics).
public func writeStderr(_ s: String) {
    var line = s
    if !line.hasSuffix("\n") { line += "\n" }
    line.withUTF8 { writeAll(2, UnsafeRawBufferPointer($0)) }
}

/// Writes bytes to standard output at once, unbuffered (a JSON answer passed on as it came).
public func writeStdout(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { writeAll(1, $0) }
}

private func writeAll(_ fd: Int32, _ buf: UnsafeRawBufferPointer) {
    var off = 0
    while off < buf.count {
        let n = Glibc.write(fd, buf.baseAddress! + off, buf.count - off)
        if n <= 0 { if errno == EINTR { continue }; return }
        off += n
    }
}
