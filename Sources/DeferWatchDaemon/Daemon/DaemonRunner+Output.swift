import DeferWatchCore

/// What the runner writes: the alerts (after the checkpoint that holds them), the
/// checkpoints, the status snapshots.
extension DaemonRunner {
    /// Writes the alerts raised since the last call: first the checkpoint, which holds
    /// them in its outbox with the positions that raised them, then syslog and stdout
    /// (AlertOutbox). In a backlog (a storm read after downtime) at most once a second:
    /// the state holds every open alert, and rewriting it after every slice cost more than
    /// reading.
    func flushAlerts(force: Bool) {
        guard !outbox.pending.isEmpty else { return }
        if !force && sources.backlog && clock.monotonic() - engine.lastCheckpoint < 1 { return }
        checkpoint()
        for (entry, item) in outbox.takePending() {
            sink.enqueue(Array(entry.line.utf8), seq: entry.seq)
            switch item {
            case .transition(let t): stdoutSink?.write(t)
            case .check(let c, let a): stdoutSink?.write(check: c, alert: a)
            }
        }
        stdoutWriter.flush()
    }

    /// Carries out what the engine asked for.
    func carryOut(_ action: EngineAction) {
        switch action {
        case .transition(let t):
            // A reminder carries the alert's last checks.
            let checks = t.state == .remind ? claimBook.byAlert[t.alert.id]?.short : nil
            outbox.add(.transition(t), line: sink.format(t.logLine(checks: checks), severity: t.severity))
            askChecks(for: t)
        case .checkpoint:
            checkpoint()
            services.notify("STATUS=\(statusLine())")
        case .publishStatus: publish()
        case .watchdog: services.notify("WATCHDOG=1")
        }
    }

    /// The engine's transitions into the outbox (at the stop, where nothing else is due);
    /// `flushAlerts` writes them, after the checkpoint that holds them.
    func emitPending() {
        for t in engine.takeTransitions() { carryOut(.transition(t)) }
    }

    // MARK: - State

    func checkpoint() {
        engine.checkpointed(at: clock.monotonic())
        var saved = SavedState(files: sources.fileCheckpoints, journal: sources.journalPosition, counters: lineCounters,
                               deliveries: engine.deliveries, tracker: tracker.snapshot)
        saved.outbox = outbox.saved(writtenThrough: sink.writtenThrough, limit: loaded.config.syslog.queue)
        saved.nextSeq = outbox.nextSeq
        state.save(saved, queue: engine.queue, final: stopping)
        SystemLimits.trimHeap()
    }

    // MARK: - Status snapshots

    static let publishEvery = 1.0
    /// The messages /v1/queue lists at most (oldest first), for `status queue --destination`
    /// and the comparison with the MTA's own queue.
    static let queueListLimit = 20_000

    /// Builds the status snapshot and hands it to the board (about once a second).
    func publish() {
        let view = StatusAssembler.StateView(directory: state.directory, lastCheckpointWall: state.lastSavedWall,
                                             error: state.error, warning: state.warning)
        var report = snapshots.report(engine: engine, counters: lineCounters, sources: sources, syslog: sink.currentStats,
                                      config: loaded.config, state: view, configError: reloadError)
        report.checks = checkCounts
        if engine.queue != nil {
            let mono = clock.monotonic()
            if queueView == nil || mono >= nextQueueView {
                var o = QueueBook.ViewOptions(limit: loaded.config.status.maxDestinations, ids: true)
                o.idLimit = Self.queueListLimit
                queueView = engine.queueView(at: clock.wall(), o)
                SystemLimits.trimHeap()
                nextQueueView = mono + max(Self.publishEvery, 20 * (clock.monotonic() - mono))
            }
            board.publish(queue: queueView)
            report.queue = queueView.map { StatusReport.QueueSummary($0, topDomains: loaded.config.status.metricsTopDomains) }
        }
        for i in report.alerts.indices {
            if let c = claimBook.byAlert[report.alerts[i].id] { report.alerts[i].checks = .init(c) }
        }
        board.publish(report)
    }

    /// The pipeline's line counters with the lines the readers skipped for being too long.
    var lineCounters: LineCounters {
        var c = engine.counters
        c.oversizedLines = sources.oversizedLines
        return c
    }
}
