#if canImport(Glibc)
import Glibc
#endif

/// How a file is cut for the threads: segments of about `segmentBytes`, each ending just
/// after a newline; a gzipped file is one segment (it is read from its start).
extension ParallelReader {
    static func isCompressed(_ fd: Int32) -> Bool {
        var magic: [UInt8] = [0, 0]
        return pread(fd, &magic, 2, 0) == 2 && magic[0] == 0x1F && magic[1] == 0x8B
    }

    /// Cuts a file into segments of about `segmentBytes` that end just after a newline.
    static func segments(fd: Int32, size: Int64) -> [(Int64, Int64)] {
        var out: [(Int64, Int64)] = []
        var start: Int64 = 0
        var probe = [UInt8](repeating: 0, count: 64 * 1024)
        while start < size {
            var end = start + segmentBytes
            if end >= size - segmentBytes / 4 {
                end = size
            } else {
                // The first newline at or after the nominal end.
                var pos = end - 1
                var found: Int64?
                while found == nil && pos < size {
                    let n = probe.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(pos)) }
                    if n <= 0 { break }
                    if let i = probe[0..<n].firstIndex(of: UInt8(ascii: "\n")) { found = pos + Int64(i) + 1 } else { pos += Int64(n) }
                }
                end = found ?? size
            }
            out.append((start, end))
            start = end
        }
        return out
    }
}
