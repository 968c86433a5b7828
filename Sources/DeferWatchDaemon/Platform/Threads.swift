#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// Threads and their locks on POSIX threads directly. Foundation's Thread, NSCondition and
// NSLock are not in FoundationEssentials, and importing all of Foundation for them would
// link Foundation and ICU's data (tens of MB) into the binary.

/// A mutex with a condition variable, used as NSCondition is: lock, wait while the state is
/// not right, change it, signal or broadcast, unlock.
public final class ConditionLock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    public init() {
        mutex.initialize(to: pthread_mutex_t())
        cond.initialize(to: pthread_cond_t())
        precondition(pthread_mutex_init(mutex, nil) == 0 && pthread_cond_init(cond, nil) == 0)
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        cond.deallocate()
        mutex.deallocate()
    }

    public func lock() { pthread_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }

    /// Waits, the lock held, until signalled (or woken spuriously: wait in a loop).
    public func wait() { pthread_cond_wait(cond, mutex) }

    /// Waits until signalled or `deadline` (wall clock, as NSCondition's); false when the
    /// deadline passed.
    @discardableResult
    public func wait(until deadline: Date) -> Bool {
        let t = max(0, deadline.timeIntervalSince1970)
        var ts = timespec()
        ts.tv_sec = Int(t)
        ts.tv_nsec = min(999_999_999, Int((t - Double(ts.tv_sec)) * 1_000_000_000))
        return pthread_cond_timedwait(cond, mutex, &ts) != ETIMEDOUT
    }

    public func signal() { pthread_cond_signal(cond) }
    public func broadcast() { pthread_cond_broadcast(cond) }

    /// Runs `body` with the lock held.
    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}

/// Starts `body` on a detached thread of its own, named (as `top -H` and `ps -L` show it)
/// and with the stack size asked for (nil: the default of the process, 8 MiB on Debian).
public func startThread(name: String? = nil, stackSize: Int? = nil, _ body: @escaping @Sendable () -> Void) {
    final class Start: @unchecked Sendable {
        let name: String?
        let body: @Sendable () -> Void
        init(name: String?, body: @escaping @Sendable () -> Void) { self.name = name; self.body = body }
    }
    var attr = pthread_attr_t()
    pthread_attr_init(&attr)
    defer { pthread_attr_destroy(&attr) }
    pthread_attr_setdetachstate(&attr, Int32(PTHREAD_CREATE_DETACHED))
    if let stackSize { pthread_attr_setstacksize(&attr, max(stackSize, 64 << 10)) }
    let start = Unmanaged.passRetained(Start(name: name, body: body)).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(&thread, &attr, { raw in
        let start = Unmanaged<Start>.fromOpaque(raw!).takeRetainedValue()
        #if os(Linux)
        // pthread_setname_np is a GNU extension Swift does not see; /proc says the same.
        // Linux keeps 15 bytes of a thread's name.
        if let name = start.name {
            let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
            if fd >= 0 {
                let bytes = Array(name.utf8.prefix(15))
                _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                close(fd)
            }
        }
        #endif
        start.body()
        return nil
    }, start)
    precondition(rc == 0, "cannot start a thread: \(String(cString: strerror(rc)))")
}
