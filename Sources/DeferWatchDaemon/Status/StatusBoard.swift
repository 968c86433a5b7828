import DeferWatchCore
import Synchronization

/// The latest status snapshot: written by the pipeline (about once a second), read by the
/// status server's threads. A reader takes the lock only long enough to copy a reference,
/// so requests never hold up the pipeline.
public final class StatusBoard: Sendable {
    private let latest = Mutex<StatusReport?>(nil)
    private let latestQueue = Mutex<QueueView?>(nil)
    /// The recent mail lines for `status trace`; nil: none kept (`[status] trace_bytes = 0`).
    /// The pipeline copies each line's bytes in under the lock (no allocation); a request
    /// copies the whole (a reference: the ring's bytes are copied only at the next append)
    /// and decodes and searches its copy without the lock.
    private let recentLines = Mutex<MessageTrace.Recent?>(nil)

    public init() {}

    /// Keeps recent lines within `budget` bytes from now on (0: none).
    public func keepRecentLines(budget: Int) {
        recentLines.withLock { $0 = budget > 0 ? MessageTrace.Recent(budget: budget) : nil }
    }

    /// A Postfix or Exim record the pipeline read, with its classified attempt.
    public func remember(_ record: LogRecord, _ event: DeliveryEvent?) {
        recentLines.withLock { $0?.append(record, event: event) }
    }

    /// The recent lines (a copy), nil when none are kept.
    public var recent: MessageTrace.Recent? { recentLines.withLock { $0 } }

    public func publish(_ report: StatusReport) {
        latest.withLock { $0 = report }
    }

    /// The deferred queue's view, with its message list (not part of the status document).
    public func publish(queue: QueueView?) {
        latestQueue.withLock { $0 = queue }
    }

    public var current: StatusReport? { latest.withLock { $0 } }
    public var queue: QueueView? { latestQueue.withLock { $0 } }
}
