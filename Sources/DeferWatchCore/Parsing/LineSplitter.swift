#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Cuts a byte stream, fed in chunks of any size, into lines. A line split across chunks is
/// reassembled; a line longer than `maxLineLength` is skipped whole and counted (a log line
/// that long is not a mail log line, and holding it would let one bad line use the memory).
/// The same bytes give the same lines however they are chunked.
public struct LineSplitter {
    public let maxLineLength: Int
    private var carry: [UInt8] = []
    private var discarding = false
    /// Bytes of the over-long line being skipped, so far.
    private var discardedBytes = 0
    public private(set) var oversizedLines = 0
    /// Called for each over-long line skipped, where it stands among the lines (for a
    /// caller that must answer every line, such as `classify`).
    public var onOversized: (() -> Void)?

    public init(maxLineLength: Int = 64 * 1024) {
        self.maxLineLength = maxLineLength
    }

    /// Whether a partial line is waiting for its newline.
    public var hasPartialLine: Bool { !carry.isEmpty || discarding }

    /// Bytes fed that belong to a line not yet complete (so a reader's position of the last
    /// complete line is its offset minus this).
    public var pendingBytes: Int { discarding ? discardedBytes : carry.count }

    /// Calls `body` with every complete line in `chunk` (without the newline; a trailing CR
    /// is removed too).
    public mutating func feed(_ chunk: UnsafeRawBufferPointer, _ body: (Bytes) -> Void) {
        guard let base = chunk.baseAddress?.assumingMemoryBound(to: UInt8.self), chunk.count > 0 else { return }
        var start = 0
        let end = chunk.count
        while start < end {
            guard let nl = memchr(base + start, 0x0A, end - start) else {
                // No newline: keep the tail for the next chunk.
                let tail = end - start
                if !discarding {
                    if carry.count + tail > maxLineLength {
                        discardedBytes = carry.count + tail
                        carry.removeAll(keepingCapacity: false)
                        discarding = true
                    } else {
                        carry.append(contentsOf: UnsafeBufferPointer(start: base + start, count: tail))
                    }
                } else {
                    discardedBytes += tail
                }
                return
            }
            let nlIndex = base.distance(to: nl.assumingMemoryBound(to: UInt8.self))
            if discarding {
                discarding = false
                discardedBytes = 0
                skipped()
            } else if carry.isEmpty {
                let len = nlIndex - start
                if len > maxLineLength {
                    skipped()
                } else {
                    emit(Bytes(start: base + start, count: len), body)
                }
            } else {
                let len = nlIndex - start
                if carry.count + len > maxLineLength {
                    skipped()
                } else {
                    carry.append(contentsOf: UnsafeBufferPointer(start: base + start, count: len))
                    carry.withUnsafeBufferPointer { emit($0, body) }
                }
                carry.removeAll(keepingCapacity: carry.capacity <= 4096)
            }
            start = nlIndex + 1
        }
    }

    /// Ends the stream: a last line without a newline is delivered (batch reading). A
    /// follower that may see the rest of the line later must not call this.
    public mutating func finish(_ body: (Bytes) -> Void) {
        if discarding {
            skipped()
        } else if !carry.isEmpty {
            carry.withUnsafeBufferPointer { emit($0, body) }
        }
        carry.removeAll()
        discarding = false
        discardedBytes = 0
    }

    /// Forgets a partial line (the file it came from was replaced).
    public mutating func reset() {
        carry.removeAll()
        discarding = false
        discardedBytes = 0
    }

    private mutating func skipped() {
        oversizedLines += 1
        onOversized?()
    }

    @inline(__always)
    private func emit(_ line: Bytes, _ body: (Bytes) -> Void) {
        if line.count > 0, line[line.count - 1] == 0x0D {
            body(line.slice(0, line.count - 1))
        } else {
            body(line)
        }
    }
}
