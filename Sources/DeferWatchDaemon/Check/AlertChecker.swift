#if canImport(Glibc)
import Glibc
#endif
import DeferWatchCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Checks alerts' claims in DNS on a thread of its own, so the pipeline never waits for a
/// resolver: the runner submits an alert when it opens or is reminded, takes the finished
/// checks at its next step. Bounded three ways: one alert's checks take at most
/// `[checks] timeout` (DeadlineResolver), two starts are at least `interval` apart, and at
/// most `queue` alerts wait (past it, new ones are dropped and counted). Answers are
/// cached by TTL across alerts (CachingResolver).
final class AlertChecker: @unchecked Sendable {
    struct Request {
        var alertID: Int
        var cause: Cause
        var identity: SendingIdentity
    }

    private let config: ChecksConfig
    private let makeResolver: () throws -> any DNSResolver
    private let spf: (any SPFEvaluator)?
    private let cond = ConditionLock()
    private var queue: [Request] = []
    private var done: [ClaimCheck] = []
    private var stopping = false
    private var busy = false
    /// Alerts not checked because the queue was full.
    private(set) var dropped = 0

    /// `makeResolver` is called on the checking thread (libresolv's state stays there).
    init(config: ChecksConfig, spf: (any SPFEvaluator)?, makeResolver: @escaping () throws -> any DNSResolver) {
        self.config = config
        self.spf = spf
        self.makeResolver = makeResolver
    }

    func start() {
        startThread(name: "deferwatch-checks") { [weak self] in self?.loop() }
    }

    /// Asks for an alert's checks; false when too many wait (the request is dropped). A
    /// request for an alert already waiting replaces it.
    @discardableResult
    func submit(_ r: Request) -> Bool {
        cond.lock()
        defer { cond.unlock() }
        if let i = queue.firstIndex(where: { $0.alertID == r.alertID }) {
            queue[i] = r
            return true
        }
        guard queue.count < config.queue else {
            dropped += 1
            return false
        }
        queue.append(r)
        cond.signal()
        return true
    }

    /// The checks finished since the last call (their `time` is for the taker to set: the
    /// daemon's clock is the pipeline thread's).
    func takeDone() -> [ClaimCheck] {
        cond.lock()
        defer { cond.unlock() }
        let out = done
        done = []
        return out
    }

    /// Alerts waiting for their checks, the one being checked included.
    var waiting: Int {
        cond.lock()
        defer { cond.unlock() }
        return queue.count + (busy ? 1 : 0)
    }

    /// Ends the thread without waiting for a check under way (its resolver times out on
    /// its own; the result is not taken).
    func stop() {
        cond.lock()
        stopping = true
        cond.broadcast()
        cond.unlock()
    }

    private func loop() {
        let mono = { () -> Double in
            var ts = timespec()
            clock_gettime(CLOCK_MONOTONIC, &ts)
            return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
        }
        var cache: CachingResolver?
        var setupError: String?
        var lastStart = -Double.infinity
        while true {
            cond.lock()
            while queue.isEmpty && !stopping { cond.wait() }
            // The rate bound: the next start no earlier than `interval` after the last.
            let wake = lastStart + Double(config.interval) / 1e6
            while !stopping && mono() < wake {
                _ = cond.wait(until: Date(timeIntervalSinceNow: max(0.001, wake - mono())))
            }
            if stopping {
                cond.unlock()
                return
            }
            let r = queue.removeFirst()
            busy = true
            cond.unlock()
            lastStart = mono()

            if cache == nil && setupError == nil {
                do { cache = CachingResolver(try makeResolver(), now: mono) } catch { setupError = "\(error)" }
            }
            let upstream: any DNSResolver = cache ?? FailingResolver(reason: setupError ?? "no resolver")
            let resolver = DeadlineResolver(upstream, now: mono, timeout: Double(config.timeout) / 1e6)
            let result = IdentityChecker(resolver: resolver, spf: spf).check(alertID: r.alertID, cause: r.cause, identity: r.identity,
                                                                             time: 0)
            cond.lock()
            busy = false
            if !stopping { done.append(result) }
            cond.unlock()
        }
    }
}

/// A resolver that cannot ask (the resolver could not be set up): every check `unknown`.
struct FailingResolver: DNSResolver {
    var reason: String
    func query(_ name: String, _ type: DNSType) -> DNSAnswer { .failed(reason) }
}
