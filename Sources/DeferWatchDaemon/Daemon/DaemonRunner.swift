#if canImport(Glibc)
import Glibc
#endif
import CSystemd
import DeferWatchCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `deferwatch run`: follows the journal and log files, runs every line through the pipeline
/// and the tracker, writes alerts to syslog, checkpoints positions, talks to systemd.
/// Everything runs on the calling thread (which owns the journal handle, as libsystemd
/// requires); only the syslog sink has a thread of its own.
///
/// What it takes from the world comes through DaemonServices: `run()` is `start()`, then
/// `step()` until a stop, then `finish()`; the in-process tests call those themselves with a
/// test clock, memory logs and a memory store.
public final class DaemonRunner {
    public struct Options {
        public var configPath: String?
        /// Alerts also as JSON lines on standard output (tests, scripts).
        public var alertsToStdout = false
        /// Alerts also as text lines on standard output (the demo).
        public var textAlertsToStdout = false
        /// Alerts also to this sink (the in-process tests).
        public var alertSink: (any AlertSink)?
        public init(configPath: String?) { self.configPath = configPath }
    }

    let services: DaemonServices
    var clock: any DaemonClock { services.clock }
    var loaded: LoadedConfig
    let options: Options
    /// The pipeline, the tracker and the counters: lines in, alert transitions out.
    var engine: Engine
    var tracker: DeferralTracker { _read { yield engine.tracker } }
    /// The files and the journal; nil until `openSources`.
    var sources: SourceSet!
    var sink: SyslogSink
    let stdoutSink: (any AlertSink)?
    let stdoutWriter = FDWriter(fd: 1)
    /// The saved state: loaded at the start, saved at each checkpoint.
    var state: StateKeeper!
    var reloadError: String?
    var stopping = false
    /// Status: the snapshot board, its server, and what the snapshot needs.
    public let board = StatusBoard()
    private var server: StatusServer?
    var snapshots: StatusAssembler
    /// The deferred queue's last view, and when the next may be built (a view of a large
    /// queue costs: it is built at most every twenty times as long as the last one took).
    var queueView: QueueView?
    var nextQueueView: Double = 0

    /// `services`: nil is the system's (made here, first, before the syslog sink starts its
    /// thread, so every thread blocks the signals).
    public init(loaded: LoadedConfig, options: Options, services: DaemonServices? = nil) {
        self.services = services ?? .system()
        // A status client that hangs up before reading its answer must not kill the daemon.
        signal(SIGPIPE, SIG_IGN)
        self.loaded = loaded
        self.options = options
        let clock = self.services.clock
        snapshots = StatusAssembler(clock: clock)
        let today = SystemTimeZone.date(of: clock.wall() / 1_000_000)
        var pipeline = LogPipeline(
            header: LineHeaderParser(yearHint: today.year, monthHint: today.month, dayHint: today.day, zone: SystemTimeZone(),
                                     defaultHost: SystemTimeZone.hostName()),
            rules: loaded.rules)
        pipeline.ownIdentifier = Array(loaded.config.syslog.identifier.utf8)
        // Nothing the daemon keeps or shows reads the reply texts of successful deliveries;
        // their recipients only the deferred queue.
        // (`status trace` shows a delivery's recipient too.)
        pipeline.fields = loaded.config.queue.enabled || loaded.config.status.traceBytes > 0 ? .queue : .tracking
        // The sender domain of each message: the alerts name them, and their checks look at them.
        pipeline.collectMessages = true
        // systemd's watchdog wants a ping within WATCHDOG_USEC: one every half of it.
        var watchdog: Double?
        if let usec = ProcessInfo.processInfo.environment["WATCHDOG_USEC"].flatMap(UInt64.init), usec > 0 {
            watchdog = Double(usec) / 2_000_000
        }
        let cadence = Cadence(checkpointEvery: Double(loaded.config.checkpointEvery) / 1e6, publishEvery: Self.publishEvery,
                              watchdogEvery: watchdog)
        engine = Engine(pipeline: pipeline, tracker: DeferralTracker(config: loaded.config.tracker, hints: loaded.hints),
                        queue: Self.queueConfig(loaded.config, services: self.services), cadence: cadence, started: clock.monotonic())
        sink = SyslogSink(config: loaded.config.syslog, watermark: "\(loaded.config.stateDirectory)/syslog-written")
        stdoutSink = options.alertsToStdout ? JSONLinesAlertSink(writer: stdoutWriter)
            : options.textAlertsToStdout ? TextAlertSink(writer: stdoutWriter) : options.alertSink
        let sink = self.sink
        state = StateKeeper(store: self.services.store ?? FileStateStore(directory: loaded.config.stateDirectory), clock: clock,
                            markerPath: self.services.store == nil ? loaded.config.stateMarkerPath : nil,
                            report: { sink.enqueueProblem("state-error", $0) },
                            madeDirectory: { sink.reopenWatermark() })
        // `status trace`: every Postfix and Exim line, with its attempt, into the board's
        // recent memory ([status] trace_bytes; like the rest of [status], read at the start).
        let traceBytes = loaded.config.status.traceBytes
        board.keepRecentLines(budget: traceBytes)
        if traceBytes > 0 {
            let board = self.board
            engine.recordTap = { record, event in board.remember(record, event) }
        }
    }

    /// Runs until SIGTERM or SIGINT; returns the exit status.
    public func run() -> Int32 {
        let status = start()
        if status != 0 { return status }
        while step() {}
        finish()
        return 0
    }

    /// Opens the sources and the status server, saves the starting positions; 0, or the
    /// exit status when the daemon cannot start.
    public func start() -> Int32 {
        do {
            try openSources()
        } catch {
            writeStderr("deferwatch: \(error)")
            services.notify("STATUS=cannot open sources: \(error)")
            return 1
        }
        SystemLimits.raiseFileLimit()
        SystemLimits.tuneAllocator()
        let status = loaded.config.status
        if services.startsServer && (!status.socket.isEmpty || status.metricsPort > 0) {
            let s = StatusServer(config: status, board: board)
            do {
                try s.start()
            } catch {
                writeStderr("deferwatch: \(error)")
                services.notify("STATUS=\(error)")
                return 1
            }
            server = s
        }
        sayWhatIsFollowed()
        startChecker()
        // The starting positions at once: a crash before the first periodic checkpoint must
        // not turn the next start into a first start (which begins at the end of the logs).
        checkpoint()
        publish()
        services.notify("READY=1\nSTATUS=\(statusLine())")
        return 0
    }

    /// One turn of the loop: a slice of each source, the signals, then what the engine asks
    /// for (the transitions raised; a checkpoint, a snapshot, the watchdog when due), the
    /// alerts written, and the wait for input. False once a stop was asked for (then call
    /// `finish()`).
    public func step() -> Bool {
        // Classic syslog lines take the latest year that does not put them in the future.
        let today = SystemTimeZone.date(of: clock.wall() / 1_000_000)
        engine.setReference(year: today.year, month: today.month, day: today.day)
        engine.ceiling = clock.wall() &+ loaded.config.tracker.clockLeap
        readSources()
        var stop = false
        for sig in services.signals.pending() {
            switch sig {
            case SIGHUP: reload()
            default: stop = true
            }
        }
        for action in engine.tick(wall: clock.wall(), monotonic: clock.monotonic(), quiet: !sources.backlog) {
            carryOut(action)
        }
        takeChecks()
        flushAlerts(force: stop)
        if !stop && !sources.backlog { sources.wait(microseconds: UInt64(loaded.config.sources.pollInterval)) }
        return !stop
    }

    /// The stop: one more slice, the alerts written, the last checkpoint.
    public func finish() {
        services.notify("STOPPING=1")
        stopping = true
        // One more slice of what was written just before the stop, never a whole backlog:
        // the stop must come within the unit's TimeoutStopSec, and the checkpoint keeps the
        // position reached for the next start.
        readSources()
        emitPending()
        takeChecks()
        checker?.stop()
        flushAlerts(force: true)
        checkpoint()
        server?.stop()
        sink.stop(timeout: 2)
        stdoutWriter.flush()
    }

    /// What a kill -9 leaves (the in-process tests' crash): nothing more is read, saved or
    /// written; the syslog sink's thread ends.
    public func abandon() {
        checker?.stop()
        sink.stop(timeout: 0)
    }

    // MARK: - Sources

    private func openSources() throws(InputError) {
        let sources = loaded.config.sources
        let found = try state.load()
        let saved = found.saved, firstStart = found.firstStart, lostSince = found.lostSince
        engine.ceiling = clock.wall() &+ loaded.config.tracker.clockLeap
        // The delivery counters restored together with the line counters, so the status
        // text adds up.
        engine.restore(counters: saved.counters, deliveries: saved.deliveries, tracker: saved.tracker)
        if let q = found.queue { engine.restore(queue: q) }
        if let t = saved.tracker {
            if tracker.restoredOverCap > 0 {
                writeStderr("deferwatch: the saved state held \(t.alerts.count) open alerts; the \(t.alerts.count - tracker.restoredOverCap) most recently active are kept (max_open_alerts)")
            }
        }
        // Alert lines of the last run that syslog did not get (killed before, or syslog down).
        let resend = outbox.restore(saved.outbox ?? [], nextSeq: saved.nextSeq, writtenThrough: sink.writtenThrough)
        for e in resend { sink.enqueue(Array(e.line.utf8), seq: e.seq) }
        if !resend.isEmpty { writeStderr("deferwatch: \(resend.count) alert lines of the last run that syslog did not have are written now") }
        let request = SourceSet.Request(sources: sources, saved: saved, firstStart: firstStart, lostSince: lostSince,
                                        header: engine.header, clock: clock)
        let made: (sources: [any LogSource], errors: [String: String])
        do { made = try services.makeSources(request) } catch let e as InputError { throw e } catch {
            throw InputError(path: "sources", operation: "cannot open", detail: "\(error)")
        }
        self.sources = SourceSet(made, clock: clock)
    }

    func readSources() {
        sources.read(into: &engine) { sink.enqueueProblem("source-error", $0) }
    }

    /// Alert lines on their way to syslog (AlertOutbox.swift).
    var outbox = AlertOutbox()
    /// The DNS checks of alerts' claims (DaemonRunner+Checks.swift): nil when `[checks]`
    /// is off.
    var checker: AlertChecker?
    var hostIdentity = HostIdentity()
    var claimBook = ClaimBook()
}
