/// The one engine behind `deferwatch run` and `analyze --alerts`: lines, journal records or
/// classified events in, alert transitions out, with the counters the status and the
/// checkpoints show. It owns the pipeline (parsers and classifier), the alert tracker and
/// the per-status delivery counters. Pure, like its parts: time comes from the records and
/// from `tick(to:)`; the transitions wait in `pending` until the caller takes them.
///
/// `analyze` reads with several threads in front of it (BatchAnalyzer) and hands it the
/// classified events; `run` hands it lines and records.
public struct Engine {
    /// Nil when the events are read and classified elsewhere (`analyze`).
    private var pipeline: LogPipeline?
    private var alerts: Alerts

    /// What the events feed: a part of its own, so a line's event reaches it while the
    /// pipeline is still busy with the line.
    struct Alerts {
        var tracker: DeferralTracker
        var deliveries = DeliveryCounters()
        var pending: [AlertTransition] = []

        mutating func take(_ e: DeliveryEvent, hashes: DestinationHashes? = nil) {
            deliveries.count(e)
            keep(tracker.record(e, hashes: hashes))
        }

        mutating func keep(_ out: [AlertTransition]) {
            if !out.isEmpty { pending += out }
        }
    }

    /// When a running engine asks for checkpoints, snapshots and the watchdog (nil in
    /// `analyze`); `tick(wall:monotonic:quiet:)` says when.
    public let cadence: Cadence?
    var timers: Timers

    /// Lines and records go through `pipeline`. `cadence` and `started` (monotonic
    /// seconds): for `deferwatch run`.
    public init(pipeline: LogPipeline, tracker: DeferralTracker, cadence: Cadence? = nil, started: Double = 0) {
        self.pipeline = pipeline
        alerts = Alerts(tracker: tracker)
        self.cadence = cadence
        timers = Timers(checkpoint: started, publish: started, watchdog: started)
    }

    /// For events read and classified elsewhere (`analyze`, which reads with several
    /// threads in front of the engine): only `ingest(_:)` and `tick(to:)`.
    public init(tracker: DeferralTracker) {
        pipeline = nil
        alerts = Alerts(tracker: tracker)
        cadence = nil
        timers = Timers(checkpoint: 0, publish: 0, watchdog: 0)
    }

    /// What the pipeline saw, line by line.
    public var counters: LineCounters { pipeline?.counters ?? LineCounters() }
    /// The time of the newest record that had one.
    public var lastTime: Int64? { pipeline?.lastTime }
    /// The pipeline's line-header parser (the daemon's lookback reads line times with it).
    public var header: LineHeaderParser? { pipeline?.header }

    /// Read in place (`_read`): the daemon looks at the tracker's clock every loop, and a
    /// copy of the tracker retains every one of its tables.
    public var tracker: DeferralTracker { _read { yield alerts.tracker } }
    public var deliveries: DeliveryCounters { _read { yield alerts.deliveries } }

    /// One text line (no newline).
    public mutating func ingest(line: Bytes) {
        guard pipeline != nil else { preconditionFailure("Engine.ingest(line:) without a pipeline") }
        Self.feed(line: line, &pipeline!, &alerts)
    }

    /// One record of a structured source (the journal).
    public mutating func ingest(record: LogRecord) {
        guard pipeline != nil else { preconditionFailure("Engine.ingest(record:) without a pipeline") }
        Self.feed(record: record, &pipeline!, &alerts)
    }

    /// Entries of a structured source that were not mail (LogPipeline.countSkipped).
    public mutating func countSkipped(otherProgramEntries n: Int) {
        pipeline?.countSkipped(otherProgramEntries: n)
    }

    private static func feed(line: Bytes, _ p: inout LogPipeline, _ a: inout Alerts) {
        p.process(line: line, handle: { e in a.take(e) })
    }

    private static func feed(record: LogRecord, _ p: inout LogPipeline, _ a: inout Alerts) {
        p.process(record: record, handle: { e in a.take(e) })
    }

    /// One classified delivery event (read and classified elsewhere), with the hashes taken
    /// ahead of it, if any.
    public mutating func ingest(_ e: DeliveryEvent, hashes: DestinationHashes? = nil) { alerts.take(e, hashes: hashes) }

    /// Moves log time on while no line comes: alerts resolve, escalate and are reminded of.
    public mutating func tick(to t: Int64) {
        alerts.keep(alerts.tracker.advance(to: t))
    }

    /// The transitions raised since the last call.
    public mutating func takeTransitions() -> [AlertTransition] {
        guard !alerts.pending.isEmpty else { return [] }
        defer { alerts.pending = [] }
        return alerts.pending
    }

    /// The alerts still open at the end of the input, as `open` summaries (`analyze`).
    public func summariesAtEnd() -> [AlertTransition] { tracker.summariesAtEnd() }

    /// The latest log time the caller allows (`run`: the wall clock plus `clock_leap`).
    public var ceiling: Int64? {
        get { alerts.tracker.ceiling }
        set { alerts.tracker.ceiling = newValue }
    }

    /// The reference date of classic syslog lines (they carry no year).
    public mutating func setReference(year: Int, month: Int, day: Int) {
        pipeline?.header.setReference(year: year, month: month, day: day)
    }

    /// Takes back what an earlier run saved: the line counters, the delivery counters and
    /// the open alerts, together (so the status adds up).
    public mutating func restore(counters: LineCounters, deliveries: DeliveryCounters?, tracker snapshot: DeferralTracker.Snapshot?) {
        pipeline?.counters = counters
        if let deliveries { alerts.deliveries = deliveries }
        if let snapshot { alerts.tracker.restore(snapshot) }
    }

    /// A reloaded configuration: new rules and thresholds; open alerts carry on.
    public mutating func reconfigure(rules: RuleSet, tracker config: TrackerConfig, hints: HintBook) {
        pipeline?.use(EventClassifier(rules: rules))
        alerts.tracker.reconfigure(config: config, hints: hints)
    }
}
