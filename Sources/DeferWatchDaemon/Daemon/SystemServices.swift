#if canImport(Glibc)
import Glibc
#endif
import CMemory
import CSystemd

/// sd_notify with a preformatted string (sd_notifyf is variadic): silently nothing when not
/// started by systemd.
public enum Notifier {
    public static func send(_ state: String) {
        _ = sd_notify(0, state)
    }
}

/// Receives SIGTERM, SIGINT and SIGHUP synchronously: they are blocked (before any thread
/// starts, so every thread inherits the mask) and collected with sigtimedwait in the loop.
final class SignalWatcher: SignalSource {
    private var set = sigset_t()

    init(_ signals: [Int32]) {
        sigemptyset(&set)
        for s in signals { sigaddset(&set, s) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    func pending() -> [Int32] {
        var out: [Int32] = []
        var zero = timespec(tv_sec: 0, tv_nsec: 0)
        while true {
            let s = sigtimedwait(&set, nil, &zero)
            if s <= 0 { break }
            out.append(s)
        }
        return out
    }
}

enum SystemLimits {
    /// A thousand status clients need a thousand descriptors: raise the soft limit to the
    /// hard one (systemd's default soft limit is 1024).
    static func raiseFileLimit() {
        var lim = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim) == 0, lim.rlim_cur < lim.rlim_max else { return }
        lim.rlim_cur = min(lim.rlim_max, 65536)
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim)
    }

    /// The allocator of a daemon that keeps a million messages: arrays of 256 KiB or more
    /// get pages of their own and give them back when freed (glibc's sliding threshold
    /// otherwise keeps the freed queue views and grown tables in the heap: 259 MB rather
    /// than 211 MB with a million messages in flight, BENCHMARKS.md), and two arenas for a
    /// daemon of a few threads.
    static func tuneAllocator() {
        _ = dw_malloc_tune(256 * 1024, 2)
    }

    /// Free memory at the top of the heaps back to the kernel (after a checkpoint or a queue
    /// view, which allocate and free a lot at once).
    static func trimHeap() {
        dw_malloc_trim()
    }
}
