#if canImport(Glibc)
import Glibc
#endif

/// The monotonic clock in microseconds.
public func monotonicMicroseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) &* 1_000_000 &+ Int64(ts.tv_nsec) / 1000
}

/// The wall clock in nanoseconds since the epoch (what file modification times are in).
func wallNanoseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) &* 1_000_000_000 &+ Int64(ts.tv_nsec)
}

/// The monotonic clock in seconds.
func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// The wall clock in microseconds since the epoch.
func wallMicroseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec / 1000)
}

/// Where `deferwatch run` takes its time from: the system's clocks, or in the in-process
/// tests a clock the test moves (`TestClock` in DeferWatchTestSupport), so a test of
/// resolves, checkpoints and reminders waits for nothing. The followed files' own clock
/// (modification times against the wall) stays the system's: those files are real.
public protocol DaemonClock: AnyObject {
    /// Microseconds since the epoch.
    func wall() -> Int64
    /// Seconds, monotonic.
    func monotonic() -> Double
    /// Waits up to `microseconds` for input; a test clock moves on instead.
    func sleep(microseconds: UInt64)
    /// A source waited up to `microseconds` for input itself (the journal's wakeup): the
    /// system's clocks moved with it; a test clock moves on by as much.
    func waited(microseconds: UInt64)
}

/// The system's clocks.
public final class SystemClock: DaemonClock {
    public init() {}
    public func wall() -> Int64 { wallMicroseconds() }
    public func monotonic() -> Double { monotonicSeconds() }
    public func sleep(microseconds: UInt64) { usleep(useconds_t(min(microseconds, UInt64(UInt32.max)))) }
    public func waited(microseconds: UInt64) {}
}

/// A clock that moves only when told: by `advance`, or by the runner's waits for input
/// (each moves it on by the wait). For driving the runner in-process.
public final class ManualClock: DaemonClock {
    private var wallNow: Int64
    private var mono: Double = 1000

    /// `wall`: microseconds since the epoch to start at.
    public init(wall: Int64) { wallNow = wall }

    public func wall() -> Int64 { wallNow }
    public func monotonic() -> Double { mono }
    public func sleep(microseconds: UInt64) { advance(microseconds: Int64(clamping: microseconds)) }
    public func waited(microseconds: UInt64) { advance(microseconds: Int64(clamping: microseconds)) }

    public func advance(microseconds: Int64) {
        wallNow &+= microseconds
        mono += Double(microseconds) / 1e6
    }

    public func advance(seconds: Double) { advance(microseconds: Int64(seconds * 1e6)) }
}
