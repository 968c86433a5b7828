/// What the engine asks of whoever drives it (`deferwatch run`'s loop carries these out;
/// `analyze` takes only the transitions).
public enum EngineAction: Sendable, Equatable {
    /// An alert transition to write (after a checkpoint that holds it).
    case transition(AlertTransition)
    /// Save a checkpoint.
    case checkpoint
    /// Publish a status snapshot.
    case publishStatus
    /// Tell the service manager that the daemon is alive (systemd's watchdog).
    case watchdog
}

/// When a running engine asks for checkpoints, snapshots and watchdog pings, in seconds of
/// the monotonic clock.
public struct Cadence: Sendable, Equatable {
    public var checkpointEvery: Double
    public var publishEvery: Double
    /// nil: no watchdog.
    public var watchdogEvery: Double?

    public init(checkpointEvery: Double, publishEvery: Double, watchdogEvery: Double?) {
        self.checkpointEvery = checkpointEvery
        self.publishEvery = publishEvery
        self.watchdogEvery = watchdogEvery
    }
}

extension Engine {
    /// The clock's turn of a running engine: log time moved on while the log is quiet
    /// (`quiet`: nothing is waiting to be read), and what is due: the transitions raised
    /// since the last call (by lines or by time), then a checkpoint, a snapshot and a
    /// watchdog ping when their time has come. `wall` in microseconds since the epoch,
    /// `monotonic` in seconds.
    public mutating func tick(wall: Int64, monotonic: Double, quiet: Bool) -> [EngineAction] {
        if quiet { advanceWhileQuiet(wall: wall) }
        var out = takeTransitions().map(EngineAction.transition)
        guard let c = cadence else { return out }
        if monotonic - timers.checkpoint >= c.checkpointEvery {
            out.append(.checkpoint)
            timers.checkpoint = monotonic
        }
        if monotonic - timers.publish >= c.publishEvery {
            out.append(.publishStatus)
            timers.publish = monotonic
        }
        if let w = c.watchdogEvery, monotonic - timers.watchdog >= w {
            out.append(.watchdog)
            timers.watchdog = monotonic
        }
        return out
    }

    /// A checkpoint was saved outside the cadence (alerts written, the start, the stop):
    /// the next one is due a whole period later.
    public mutating func checkpointed(at monotonic: Double) { timers.checkpoint = monotonic }

    /// When the last checkpoint was saved (monotonic seconds).
    public var lastCheckpoint: Double { timers.checkpoint }

    /// Log time moves with the lines. When the log is quiet, it moves on from the newest
    /// line at the wall clock's pace (never past the wall clock), so alerts resolve when
    /// nothing more comes. A backlog of old lines (after downtime, a log shipped late) is
    /// judged on its own dates: the seconds spent reading it are not quiet in its log time.
    mutating func advanceWhileQuiet(wall: Int64) {
        let newest = tracker.newestEvent
        if newest != timers.quietSince.event { timers.quietSince = (newest, wall) }
        guard timers.quietSince.event != Int64.min else { return }
        let target = min(wall, timers.quietSince.event &+ max(0, wall &- timers.quietSince.wall))
        if target > tracker.now { tick(to: target) }
    }

    /// The cadence's clocks, and since when the log is quiet.
    struct Timers {
        var checkpoint: Double
        var publish: Double
        var watchdog: Double
        /// The newest event time seen, and the wall clock when it was first seen.
        var quietSince: (event: Int64, wall: Int64) = (Int64.min, 0)
    }
}
