#if canImport(Glibc)
import Glibc
#endif
import DeferWatchCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The watermark: the highest sequence number syslog has (or that was dropped), kept in a
/// file so that a restart knows which lines of the checkpoint's outbox are written.
extension SyslogSink {
    /// Opens the watermark file again (the state directory was made again, or made only
    /// after the sink started), keeping the number reached.
    public func reopenWatermark() {
        condition.lock()
        defer { condition.unlock() }
        guard let watermarkPath else { return }
        if watermarkFD >= 0 { close(watermarkFD) }
        watermarkFD = open(watermarkPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
        writeWatermark()
    }

    /// Under the lock: `sentThrough` into its file (8 bytes at offset 0).
    func writeWatermark() {
        guard watermarkFD >= 0 else { return }
        var v = sentThrough
        _ = withUnsafeBytes(of: &v) { pwrite(watermarkFD, $0.baseAddress, 8, 0) }
    }

    /// The highest sequence number written to syslog (or dropped) so far, this run or an
    /// earlier one.
    public var writtenThrough: Int64 {
        condition.lock()
        defer { condition.unlock() }
        return sentThrough
    }

    /// The watermark file's number; 0 when it is missing, short or not a plausible number.
    static func readWatermark(fd: Int32) -> Int64 {
        guard fd >= 0 else { return 0 }
        var v: Int64 = 0
        let n = withUnsafeMutableBytes(of: &v) { pread(fd, $0.baseAddress, 8, 0) }
        return n == 8 && v >= 0 && v < Int64(1) << 52 ? v : 0
    }

    /// Under the lock: `seq` was written or dropped.
    func passed(_ seq: Int64) {
        guard seq > sentThrough else { return }
        sentThrough = seq
        writeWatermark()
    }
}
