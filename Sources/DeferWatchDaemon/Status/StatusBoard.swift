import DeferWatchCore
import Synchronization

/// The latest status snapshot: written by the pipeline (about once a second), read by the
/// status server's threads. A reader takes the lock only long enough to copy a reference,
/// so requests never hold up the pipeline.
public final class StatusBoard: Sendable {
    private let latest = Mutex<StatusReport?>(nil)
    private let latestQueue = Mutex<QueueView?>(nil)

    public init() {}

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
