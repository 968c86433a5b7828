#if canImport(Glibc)
import Glibc
#endif
import DeferWatchCore

extension FileFollower {
    /// The offset of the first line stamped at or after `time`, found by bisecting the file
    /// on line timestamps (a log is in time order, give or take a few seconds), then reading
    /// forward line by line from the last offset known to be earlier. Lines without a
    /// timestamp are passed over. Reads a few hundred kilobytes of even a large file.
    static func firstLine(fd: Int32, size: Int64, since time: Int64, lineTime: (Bytes) -> Int64?) -> Int64 {
        let window = 64 * 1024
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: window, alignment: 16)
        defer { buffer.deallocate() }

        /// The first timestamped line that starts at or after `position` and before `limit`:
        /// its start, the start of the line after it, and its time.
        func timedLine(from position: Int64, limit: Int64) -> (start: Int64, next: Int64, time: Int64)? {
            var pos = position
            var atLineStart = position == 0
            while pos < limit {
                let n = pread(fd, buffer.baseAddress, window, off_t(pos))
                guard n > 0 else { return nil }
                let bytes = Bytes(start: buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), count: n)
                var i = 0
                if !atLineStart {
                    guard let nl = bytes.index(of: 0x0A) else { pos += Int64(n); continue }
                    i = nl + 1
                    atLineStart = true
                }
                while i < n, pos + Int64(i) < limit {
                    guard let nl = bytes.index(of: 0x0A, from: i) else { break }
                    if let t = lineTime(bytes.slice(i, nl)) {
                        return (pos + Int64(i), pos + Int64(nl + 1), t)
                    }
                    i = nl + 1
                }
                if i == 0 {
                    // A line longer than the window: skip to its end.
                    atLineStart = false
                    pos += Int64(n)
                } else {
                    pos += Int64(i)
                }
            }
            return nil
        }

        // Invariant: every timestamped line starting before `lo` is earlier than `time`.
        var lo: Int64 = 0
        var hi = size
        while hi - lo > Int64(window) {
            let mid = lo + (hi - lo) / 2
            if let line = timedLine(from: mid, limit: hi), line.time < time {
                lo = line.next
            } else {
                hi = mid
            }
        }
        var pos = lo
        while let line = timedLine(from: pos, limit: size) {
            if line.time >= time { return line.start }
            pos = line.next
        }
        return size
    }
}
