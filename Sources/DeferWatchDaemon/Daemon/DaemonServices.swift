#if canImport(Glibc)
import Glibc
#endif
import DeferWatchCore

/// What `deferwatch run` takes from the world, each behind a seam: the clocks, the inputs,
/// the saved state, the signals and systemd's notify socket. `system()` is the daemon's;
/// the in-process tests give a test clock, memory logs, a memory store and signals they
/// send themselves, and drive the runner one `step()` at a time.
public struct DaemonServices {
    public var clock: any DaemonClock
    /// Makes the inputs at the start; the configured files and journal by default.
    var makeSources: (SourceSet.Request) throws -> (sources: [any LogSource], errors: [String: String])
    /// Where the state is saved; nil: the configured state directory.
    public var store: (any StateStore)?
    public var signals: any SignalSource
    /// sd_notify.
    public var notify: (String) -> Void
    /// Whether the status server and the syslog sink's thread start (the in-process tests
    /// read the status board and the alerts directly).
    public var startsServer: Bool
    /// The resolver the alerts' DNS checks ask (called on the checking thread): the
    /// configured resolvers through libresolv.
    public var makeResolver: @Sendable (DNSConfig) throws -> any DNSResolver = { try SystemResolver(config: $0) }
    /// Postfix's `maximal_queue_lifetime` in microseconds, if this host has Postfix (the
    /// in-process tests: nil, the default).
    public var postfixQueueLifetime: () -> Int64? = { nil }

    /// The real daemon's. Blocks SIGTERM, SIGINT and SIGHUP (SignalWatcher): call before
    /// any thread starts, so every thread inherits the mask.
    public static func system() -> DaemonServices {
        var s = DaemonServices(clock: SystemClock(), makeSources: SourceSet.system, store: nil,
                               signals: SignalWatcher([SIGTERM, SIGINT, SIGHUP]), notify: Notifier.send, startsServer: true)
        s.postfixQueueLifetime = { PostfixQueue.lifetime() }
        return s
    }

    /// For driving the runner in-process: `logs` are its inputs (each read as a file is,
    /// from its checkpoint in the saved state), `store` its state.
    public static func inProcess(clock: any DaemonClock, logs: [MemoryLog], store: any StateStore,
                                 signals: any SignalSource) -> DaemonServices {
        DaemonServices(clock: clock, makeSources: { r in
            let made: [any LogSource] = logs.map { log in
                MemoryLogSource(log: log, checkpoint: r.saved.files.first { $0.path == log.name }, fromStart: !r.firstStart)
            }
            return (made, [:])
        }, store: store, signals: signals, notify: { _ in }, startsServer: false)
    }
}

extension DaemonServices {
    /// For driving the runner in-process on its configured inputs (real files, a real
    /// journal), with a test clock, a memory store and test signals.
    public static func inProcess(clock: any DaemonClock, store: any StateStore, signals: any SignalSource) -> DaemonServices {
        DaemonServices(clock: clock, makeSources: SourceSet.system, store: store, signals: signals, notify: { _ in },
                       startsServer: false)
    }
}

/// The signals the runner acts on: SIGHUP reloads, SIGTERM and SIGINT stop.
public protocol SignalSource: AnyObject {
    /// The signals received since the last call.
    func pending() -> [Int32]
}

/// Signals a test sends (`send(SIGHUP)`), taken by the runner's next step.
public final class TestSignals: SignalSource {
    private var queued: [Int32] = []
    public init() {}
    public func send(_ s: Int32) { queued.append(s) }
    public func pending() -> [Int32] {
        defer { queued = [] }
        return queued
    }
}
