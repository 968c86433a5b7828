#if canImport(Glibc)
import Glibc
#endif
import DeferWatchCore

/// Builds the status snapshot of `deferwatch run` from what the daemon holds: the engine's
/// alerts and counters, the sources, syslog and the state, with the line rate over the last
/// ten seconds.
struct StatusAssembler {
    let clock: any DaemonClock
    let startedWall: Int64
    let startedMono: Double
    private var rateSamples: [(time: Double, lines: Int)] = []

    init(clock: any DaemonClock) {
        self.clock = clock
        startedWall = clock.wall()
        startedMono = clock.monotonic()
    }

    /// The state directory as the status shows it.
    struct StateView {
        var directory: String
        var lastCheckpointWall: Int64?
        var error: String?
        var warning: String?
    }

    mutating func report(engine: Engine, counters: LineCounters, sources: SourceSet, syslog stats: SyslogSink.Stats,
                         config: DeferWatchConfig, state: StateView, configError: String?) -> StatusReport {
        let mono = clock.monotonic()
        let wall = clock.wall()
        let tracker = engine.tracker
        rateSamples.append((mono, counters.lines))
        while let first = rateSamples.first, mono - first.time > 10, rateSamples.count > 2 { rateSamples.removeFirst() }
        var perSecond = 0.0
        if let first = rateSamples.first, mono - first.time > 0.5 {
            perSecond = (Double(counters.lines - first.lines) / (mono - first.time) * 10).rounded() / 10
        }

        let open = tracker.openAlertStates
        var byKey: [String: [Int]] = [:]
        for t in open { byKey[t.alert.key.description, default: []].append(t.alert.id) }
        // With one sending host, its per-host keys repeat the others: shown once.
        let hosts = tracker.sendingHosts
        let oneHost = hosts.count <= 1
        let limit = config.status.maxDestinations
        let destinations = tracker.deferringDestinations(limit: limit * (oneHost ? 2 : 1))
            .filter { !oneHost || $0.key.host == nil }
            .prefix(limit)
            .map { d in
                // An alert on the host's key belongs to the shared key shown.
                let ids = (byKey[d.key.description] ?? []) + (oneHost ? hosts.flatMap { byKey[d.key.withHost($0).description] ?? [] } : [])
                return StatusReport.DestinationStatus(d, alerts: ids.sorted())
            }
        return StatusReport(
            version: DeferWatchVersion.string, pid: Int(getpid()),
            startedAt: CivilTime.rfc3339(startedWall), generatedAt: CivilTime.rfc3339(wall),
            uptimeSeconds: Int(mono - startedMono),
            logTime: tracker.newestEvent == Int64.min ? nil : CivilTime.rfc3339(tracker.newestEvent),
            windowEnd: tracker.now == Int64.min ? nil : CivilTime.rfc3339(tracker.now),
            sources: sources.statuses(wall: wall), lines: .init(counters, perSecond: perSecond, timeOutliers: tracker.futureOutliers),
            attempts: engine.deliveries.attemptCounts, deferrals: engine.deliveries.deferralCounts,
            syslog: .init(socket: config.syslog.socket, sent: stats.sent, dropped: stats.dropped, queued: stats.queued,
                          error: stats.lastError),
            state: .init(directory: state.directory, lastCheckpoint: state.lastCheckpointWall.map(CivilTime.rfc3339),
                         checkpointAgeSeconds: state.lastCheckpointWall.map { (Double(wall - $0) / 1e5).rounded() / 10 },
                         error: state.error, warning: state.warning),
            trackedDestinations: tracker.trackedKeys, alerts: open.map(StatusReport.AlertStatus.init), destinations: Array(destinations),
            window: AlertTransition.duration(config.tracker.window), configError: configError)
    }
}
