#if canImport(Glibc)
import Glibc
#endif
import DeferWatchCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Writes alert transitions to the local syslog socket as datagrams, itself: glibc's
/// syslog(3) drops messages silently when there is no socket, this sink does not. When the
/// socket is missing, refuses or is full, messages wait in a bounded queue and are retried
/// by a background thread with backoff; when the queue is full the oldest is dropped and
/// counted. `write` never blocks on the socket.
public final class SyslogSink: AlertSink, @unchecked Sendable {
    public struct Stats: Sendable, Equatable {
        public var sent = 0
        /// Dropped because the queue was full (syslog unavailable for long).
        public var dropped = 0
        public var queued = 0
        /// Bytes of the messages waiting.
        public var queuedBytes = 0
        /// Messages the queue's storage holds, sent or dropped ones not yet trimmed included.
        public var storedMessages = 0
        /// What went wrong with the last attempt; nil once a message went through.
        public var lastError: String?
    }

    let config: SyslogConfig
    let hostname: String
    let pid = getpid()
    let condition = ConditionLock()
    private var queue: [[UInt8]] = []
    private var head = 0
    private var stats = Stats()
    private var stopping = false
    private var fd: Int32 = -1
    private var idle = true
    /// The message being sent (or waiting to be retried); it is no longer in `queue`.
    private var inFlight: [UInt8]?
    /// Each queued message's sequence number (0: not tracked), and the one in flight's.
    private var seqs: [Int64] = []
    private var inFlightSeq: Int64 = 0
    /// Every tracked message up to this sequence number was written or dropped.
    var sentThrough: Int64 = 0
    /// Where `sentThrough` is kept (8 bytes, rewritten after each tracked message): a
    /// write(2) that returned survives the process being killed, so a restart knows which
    /// lines of the checkpoint's outbox syslog already has.
    var watermarkFD: Int32 = -1
    let watermarkPath: String?

    /// Largest datagram written; longer lines are cut (rsyslog's default limit is 8 KiB).
    public static let maxMessage = 8000

    public init(config: SyslogConfig, hostname: String = SystemTimeZone.hostName(), watermark: String? = nil) {
        self.config = config
        self.hostname = hostname
        watermarkPath = watermark
        if let watermark {
            watermarkFD = open(watermark, O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
            sentThrough = Self.readWatermark(fd: watermarkFD)
        }
        // The thread holds the sink until `stop()`; call it when done.
        startThread(name: "deferwatch-syslog") { self.run() }
    }

    deinit {
        if fd >= 0 { close(fd) }
        if watermarkFD >= 0 { close(watermarkFD) }
    }

    public var currentStats: Stats {
        condition.lock()
        defer { condition.unlock() }
        var s = stats
        s.queued = pending
        s.queuedBytes = queuedBytes + (inFlight?.count ?? 0)
        s.storedMessages = queue.count
        return s
    }

    public func write(_ t: AlertTransition) {
        enqueue(format(t.logLine, severity: t.severity))
    }

    /// Queues one message at the priority of `severity`.
    /// Messages not yet sent, the one being retried included.
    private var pending: Int { queue.count - head + (inFlight == nil ? 0 : 1) }

    /// Queues one datagram; `seq` (above 0) is its place in the daemon's outbox.
    public func enqueue(_ message: [UInt8], seq: Int64 = 0) {
        condition.lock()
        // Bounded in count and in bytes; the oldest go first, trimmed here, since a sender
        // stuck on a missing socket never gets to.
        while queue.count > head && (pending >= config.queue || queuedBytes + (inFlight?.count ?? 0) + message.count > config.queueBytes) {
            queuedBytes -= queue[head].count
            queue[head] = []
            // Marked as passed only with nothing in flight: the watermark must never pass
            // a line still to be written (a dropped one may be written again after a restart).
            if inFlight == nil { passed(seqs[head]) }
            head += 1
            stats.dropped += 1
            if stats.dropped == 1 || stats.dropped % 1000 == 0 {
                // Said outside syslog, which is what is failing: stderr reaches the journal.
                writeStderr("deferwatch: syslog at \(config.socket) unavailable (\(stats.lastError ?? "queue full")): \(stats.dropped) alert lines dropped so far, \(pending) waiting")
            }
        }
        trim()
        queue.append(message)
        seqs.append(seq)
        queuedBytes += message.count
        condition.signal()
        condition.unlock()
    }

    /// Drops the storage of messages already taken (sent or dropped); under the lock.
    private func trim() {
        if head > 1024 && head * 2 > queue.count {
            queue.removeFirst(head)
            seqs.removeFirst(head)
            head = 0
        }
    }

    /// Bytes of the messages in `queue` not yet taken.
    private var queuedBytes = 0

    /// Waits until the queue is empty or `timeout` seconds passed; true when empty.
    @discardableResult
    public func flush(timeout: Double) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        condition.lock()
        defer { condition.unlock() }
        while pending > 0 || !idle {
            if !condition.wait(until: deadline) { return pending == 0 }
        }
        return true
    }

    /// Stops the background thread after a last attempt to send what is queued.
    public func stop(timeout: Double = 2) {
        flush(timeout: timeout)
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    // MARK: - Sending

    private func run() {
        var backoff = 0.05
        while true {
            condition.lock()
            while pending == 0 && !stopping {
                idle = true
                condition.broadcast()
                condition.wait()
            }
            if pending == 0 && stopping {
                idle = true
                condition.broadcast()
                condition.unlock()
                return
            }
            idle = false
            if inFlight == nil {
                inFlight = queue[head]
                inFlightSeq = seqs[head]
                queuedBytes -= queue[head].count
                queue[head] = []
                head += 1
                trim()
            }
            let message = inFlight!
            condition.unlock()

            let error = send(message)
            condition.lock()
            if error == nil {
                inFlight = nil
                passed(inFlightSeq)
                stats.sent += 1
                stats.lastError = nil
                backoff = 0.05
                condition.unlock()
            } else {
                stats.lastError = error
                let stop = stopping
                condition.unlock()
                if stop { return }
                // Wait, then retry the same message; new messages keep queueing meanwhile.
                usleep(useconds_t(backoff * 1_000_000))
                backoff = min(backoff * 2, 5)
            }
        }
    }

    /// Sends one datagram; nil on success, else what went wrong.
    private func send(_ message: [UInt8]) -> String? {
        if fd < 0 {
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            if fd < 0 { return "socket: \(String(cString: strerror(errno)))" }
            guard config.socket.utf8.count < Self.maxSocketPath else {
                close(fd)
                fd = -1
                return "\(config.socket): path too long"
            }
            if connectUnix(fd, config.socket) != 0 {
                let e = errno
                close(fd)
                fd = -1
                return "\(config.socket): connect: \(String(cString: strerror(e)))"
            }
        }
        let n = message.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if n >= 0 { return nil }
        let e = errno
        if e != EAGAIN && e != EWOULDBLOCK && e != ENOBUFS {
            // The reader went away (syslog restarted): reconnect next time.
            close(fd)
            fd = -1
        }
        return "\(config.socket): send: \(String(cString: strerror(e)))"
    }
}
