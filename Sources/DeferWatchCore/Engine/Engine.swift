/// The one engine behind `deferwatch run` and every `analyze` mode: lines, journal records
/// or events matched elsewhere in, alert transitions and the report out, with the counters
/// the status and the checkpoints show. It owns the pipeline (parsers and classifier, both of
/// the classifier's halves), what the events feed (the alert tracker with the per-status
/// delivery counters, the report, or both), and the counters. Pure, like its parts: time
/// comes from the records and from `tick(to:)`; the transitions wait in `pending` until the
/// caller takes them.
///
/// `analyze` may read with several threads in front of it (BatchAnalyzer's parallel reader):
/// they parse and match, and hand the engine each event with what settling must still do
/// (`ingest(matched:_:hashes:)`), in log order; `run` hands it lines and records.
public struct Engine {
    private var pipeline: LogPipeline
    private var outputs: Outputs

    /// What the events feed: a part of its own, so a line's event reaches it while the
    /// pipeline is still busy with the line.
    struct Outputs {
        /// The tracker (`run`, `analyze --alerts`).
        var alerts: Alerts?
        /// The report (`analyze`, `rules suggest`).
        var report: ReportBuilder?
        /// The sender domain of each message (when the pipeline reads message records).
        var senders: SenderBook?
        /// The deferred queue (`run`, `analyze --queue`).
        var queue: QueueBook?

        @inline(__always)
        mutating func take(_ e: DeliveryEvent, hashes: DestinationHashes? = nil) {
            // A failure's message key, hashed once for both books (a delivery's only the queue
            // hashes, and only while it holds messages).
            let key = e.status != .sent && (senders != nil || queue != nil) ? SenderBook.key(of: e) : nil
            let sender = key.flatMap { senders?.domain(key: $0) }
            alerts?.take(e, hashes: hashes, sender: sender)
            if queue?.take(e, key: key) == .atRisk, alerts != nil, let out = alerts!.tracker.atRisk(e, hashes: hashes) {
                alerts!.keep(out)
                queue!.countedAtRisk(key: key ?? SenderBook.key(of: e))
            }
            report?.add(e, hashes: hashes)
            if let sender { report?.addSender(sender, e) }
        }

        @inline(__always)
        mutating func take(_ r: MessageRecord) {
            senders?.take(r)
            queue?.take(r)
        }

        /// The message records the pipeline read on the line just processed.
        @inline(__always)
        mutating func takeMessages(_ p: inout LogPipeline) {
            guard !p.messages.isEmpty else { return }
            for r in p.messages { take(r) }
            p.messages.removeAll(keepingCapacity: true)
        }
    }

    struct Alerts {
        var tracker: DeferralTracker
        var deliveries = DeliveryCounters()
        var pending: [AlertTransition] = []

        mutating func take(_ e: DeliveryEvent, hashes: DestinationHashes? = nil, sender: String? = nil) {
            deliveries.count(e)
            keep(tracker.record(e, hashes: hashes, sender: sender))
        }

        mutating func keep(_ out: [AlertTransition]) {
            if !out.isEmpty { pending += out }
        }
    }

    /// When a running engine asks for checkpoints, snapshots and the watchdog (nil in
    /// `analyze`); `tick(wall:monotonic:quiet:)` says when.
    public let cadence: Cadence?
    var timers: Timers

    /// Lines and records go through `pipeline`; their events feed `tracker` (alert
    /// transitions), `report` (an AnalysisReport, `finishReport()`), both, or neither (the
    /// caller sees each event through the `each` of `ingest`, as `analyze --events`).
    /// `cadence` and `started` (monotonic seconds): for `deferwatch run`.
    /// `queue`: follow the deferred queue (the pipeline must read message records and
    /// every recipient: `LogPipeline.collectMessages`, `EventFields.queue`).
    public init(pipeline: LogPipeline, tracker: DeferralTracker?, report: ReportBuilder? = nil,
                queue: QueueConfig? = nil, cadence: Cadence? = nil, started: Double = 0) {
        self.pipeline = pipeline
        outputs = Outputs(alerts: tracker.map { Alerts(tracker: $0) }, report: report,
                          senders: pipeline.collectMessages ? SenderBook() : nil,
                          queue: queue.flatMap { $0.enabled ? QueueBook(config: $0) : nil })
        self.cadence = cadence
        timers = Timers(checkpoint: started, publish: started, watchdog: started)
    }

    /// What the pipeline saw, line by line.
    public var counters: LineCounters { pipeline.counters }
    /// The time of the newest record that had one.
    public var lastTime: Int64? { pipeline.lastTime }
    /// The pipeline's line-header parser (the daemon's lookback reads line times with it;
    /// `analyze` gives each input the reference date of its own end).
    public var header: LineHeaderParser {
        get { pipeline.header }
        set { pipeline.header = newValue }
    }
    /// The first few unrecognised lines.
    public var unrecognisedSamples: [String] { pipeline.unrecognisedSamples }

    /// The tracker. Read in place (`_read`): the daemon looks at the tracker's clock every
    /// loop, and a copy of the tracker retains every one of its tables. Only for an engine
    /// made with one.
    public var tracker: DeferralTracker {
        _read {
            guard outputs.alerts != nil else { preconditionFailure("Engine.tracker of an engine without one") }
            yield outputs.alerts!.tracker
        }
    }
    public var deliveries: DeliveryCounters { outputs.alerts?.deliveries ?? DeliveryCounters() }

    /// One text line (no newline).
    public mutating func ingest(line: Bytes) {
        Self.feed(line: line, &pipeline, &outputs)
    }

    /// One text line; `each` sees its event, if any, after the engine took it.
    public mutating func ingest(line: Bytes, each: (inout DeliveryEvent) -> Void) {
        Self.feed(line: line, &pipeline, &outputs, each)
    }

    /// One record of a structured source (the journal).
    public mutating func ingest(record: LogRecord) {
        Self.feed(record: record, &pipeline, &outputs)
    }

    /// One record; `each` sees its event, if any, after the engine took it.
    public mutating func ingest(record: LogRecord, each: (inout DeliveryEvent) -> Void) {
        Self.feed(record: record, &pipeline, &outputs, each)
    }

    /// Entries of a structured source that were not mail (LogPipeline.countSkipped).
    public mutating func countSkipped(otherProgramEntries n: Int) {
        pipeline.countSkipped(otherProgramEntries: n)
    }

    /// Lines over the length limit, skipped whole by the line splitter in front.
    public mutating func countOversized(_ n: Int) {
        pipeline.counters.oversizedLines += n
    }

    private static func feed(line: Bytes, _ p: inout LogPipeline, _ o: inout Outputs) {
        p.process(line: line, handle: { e in o.take(e) })
        o.takeMessages(&p)
    }

    private static func feed(record: LogRecord, _ p: inout LogPipeline, _ o: inout Outputs) {
        p.process(record: record, handle: { e in o.take(e) })
        o.takeMessages(&p)
    }

    private static func feed(line: Bytes, _ p: inout LogPipeline, _ o: inout Outputs, _ each: (inout DeliveryEvent) -> Void) {
        p.process(line: line, handle: { e in
            o.take(e)
            each(&e)
        })
        o.takeMessages(&p)
    }

    private static func feed(record: LogRecord, _ p: inout LogPipeline, _ o: inout Outputs,
                             _ each: (inout DeliveryEvent) -> Void) {
        p.process(record: record, handle: { e in
            o.take(e)
            each(&e)
        })
        o.takeMessages(&p)
    }

    /// A sender another pipeline read (the parallel reader's), in log order among the
    /// events it hands over.
    public mutating func ingest(message: MessageRecord) {
        outputs.take(message)
    }

    /// LogPipeline.recordTap: every Postfix and Exim record with its event (`trace`).
    public var recordTap: ((LogRecord, DeliveryEvent?) -> Void)? {
        get { pipeline.recordTap }
        set { pipeline.recordTap = newValue }
    }

    /// Whether the engine reads message records (its pipeline's `collectMessages`).
    public var collectsMessages: Bool { outputs.senders != nil }

    /// The deferred queue, for an engine made with one. Read in place (a copy would retain
    /// its tables).
    public var queue: QueueBook? {
        _read { yield outputs.queue }
    }

    /// The queue as a view at log time `at` (nil without a queue).
    public func queueView(at t: Int64? = nil, _ o: QueueBook.ViewOptions = QueueBook.ViewOptions()) -> QueueView? {
        outputs.queue?.view(at: t, o)
    }

    /// Messages whose sender domain is known now, and those forgotten for room.
    public var sendersKnown: (messages: Int, forgotten: Int) {
        (outputs.senders?.count ?? 0, outputs.senders?.forgotten ?? 0)
    }

    /// One event that another pipeline parsed and matched (`LogPipeline.matchOnly`, on a
    /// reading thread), in log order: the engine settles it (inheritance from, and memory
    /// of, earlier failures) and takes it, with the hashes taken ahead of it, if any.
    public mutating func ingest(matched e: inout DeliveryEvent, _ settling: EventClassifier.Settling,
                                hashes: DestinationHashes? = nil) {
        pipeline.settle(&e, settling)
        outputs.take(e, hashes: hashes)
    }

    /// What the reading threads counted and sampled for the lines whose events they hand
    /// over (`ingest(matched:)`), in log order.
    public mutating func absorb(counters: LineCounters, samples: [String]) {
        pipeline.absorb(counters: counters, samples: samples)
    }

    /// Moves log time on while no line comes: alerts resolve, escalate and are reminded of.
    public mutating func tick(to t: Int64) {
        guard outputs.alerts != nil else { return }
        let out = outputs.alerts!.tracker.advance(to: t)
        outputs.alerts!.keep(out)
    }

    /// The report of what was read, with the engine's counters and samples (an engine made
    /// with a report).
    public func finishReport() -> AnalysisReport? {
        outputs.report?.finish(counters: pipeline.counters, unrecognisedSamples: pipeline.unrecognisedSamples)
    }

    /// The transitions raised since the last call.
    public mutating func takeTransitions() -> [AlertTransition] {
        guard let pending = outputs.alerts?.pending, !pending.isEmpty else { return [] }
        outputs.alerts!.pending = []
        return pending
    }

    /// The alerts still open at the end of the input, as `open` summaries (`analyze`).
    public func summariesAtEnd() -> [AlertTransition] { tracker.summariesAtEnd() }

    /// The latest log time the caller allows (`run`: the wall clock plus `clock_leap`).
    public var ceiling: Int64? {
        get { outputs.alerts?.tracker.ceiling }
        set { outputs.alerts?.tracker.ceiling = newValue }
    }

    /// The reference date of classic syslog lines (they carry no year).
    public mutating func setReference(year: Int, month: Int, day: Int) {
        pipeline.header.setReference(year: year, month: month, day: day)
    }

    /// Takes back what an earlier run saved: the line counters, the delivery counters and
    /// the open alerts, together (so the status adds up).
    public mutating func restore(counters: LineCounters, deliveries: DeliveryCounters?, tracker snapshot: DeferralTracker.Snapshot?) {
        pipeline.counters = counters
        if let deliveries { outputs.alerts?.deliveries = deliveries }
        if let snapshot { outputs.alerts?.tracker.restore(snapshot) }
    }

    /// A reloaded configuration: new rules and thresholds; open alerts carry on.
    public mutating func reconfigure(rules: RuleSet, tracker config: TrackerConfig, hints: HintBook, queue: QueueConfig? = nil) {
        pipeline.use(EventClassifier(rules: rules))
        outputs.alerts?.tracker.reconfigure(config: config, hints: hints)
        if let queue { outputs.queue?.reconfigure(queue) }
    }

    /// Takes back the deferred queue an earlier run saved.
    public mutating func restore(queue snapshot: QueueBook.Snapshot) {
        outputs.queue?.restore(snapshot)
    }
}
