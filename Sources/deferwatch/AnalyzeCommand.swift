import ArgumentParser
import DeferWatchCore
import DeferWatchDaemon

struct AnalyzeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analyze",
        abstract: "Read finished logs and report deferrals by destination and cause.",
        discussion: """
        Reads syslog files (RFC 3164 or RFC 3339 timestamps), journalctl -o short,
        short-iso and short-precise output, and Exim mainlogs; .gz files are decompressed;
        - is standard input. Several files are read oldest first.

        Examples:
          deferwatch analyze /var/log/mail.log /var/log/mail.log.1 /var/log/mail.log.2.gz
          deferwatch analyze /var/log/exim4/mainlog
          journalctl -u postfix@- -o short-iso | deferwatch analyze -
          deferwatch analyze --events /var/log/mail.log | jq 'select(.status=="deferred")'
          deferwatch analyze --alerts /var/log/mail.log.1
          deferwatch analyze --queue /var/log/mail.log.1 /var/log/mail.log
          deferwatch analyze --queue --destination gmail.com --json /var/log/mail.log
          deferwatch analyze --journal /var/log/journal/remote
        """
    )

    @OptionGroup var input: LogInputOptions

    @Flag(name: .long, help: "Print JSON: the report as one document; with --alerts, one object per transition.")
    var json = false

    @Flag(name: .long, help: "Print one JSON object per delivery attempt, in log order, instead of the report.")
    var events = false

    @Flag(name: .long, help: "Replay the logs through the alert tracker and print the alert transitions the daemon would have written.")
    var alerts = false

    @Flag(name: .long, help: "Print the deferred queue at the end of the logs: messages still waiting on a deferred recipient, by destination and cause, with their ages.")
    var queue = false

    @Option(name: .long, help: ArgumentHelp("With --queue: only this domain, relay or provider, and list its messages.", valueName: "name"))
    var destination: String?

    @Option(name: .long, help: "How many destinations and unexplained texts the text report lists.")
    var limit: Int = 20

    @Flag(name: .long, help: "Print statistics (lines, events, tracked destination keys) on stderr at the end.")
    var stats = false

    @Option(name: .long, help: ArgumentHelp("Threads that read and parse the files (default: one per core); the output is the same with any number.", valueName: "n"))
    var threads: Int?

    @OptionGroup var options: ConfigOptions

    func validate() throws {
        try input.validate()
        if limit < 0 { throw ValidationError("--limit must be zero or more") }
        if [events, alerts, queue].filter({ $0 }).count > 1 { throw ValidationError("--events, --alerts and --queue are different outputs: choose one") }
        if destination != nil && !queue { throw ValidationError("--destination goes with --queue") }
    }

    func run() throws {
        let loaded = try options.load()
        var batch = input.batch(rules: loaded.rules)
        batch.progress = true
        if let threads {
            guard threads >= 1 && threads <= 64 else { throw ValidationError("--threads must be between 1 and 64") }
            batch.threads = threads
        }
        batch.hashesAhead = !events
        batch.fields = events ? .all : alerts ? .tracking : queue ? .queue : .report
        let analyzer = BatchAnalyzer(options: batch)
        let out = FDWriter(fd: 1)
        let result: BatchAnalyzer.Result
        if events {
            var engine = analyzer.engine()
            result = analyzer.runEventLines(&engine) { out.write($0) }
        } else if queue {
            var engine = analyzer.engine(queue: loaded.config.queue)
            result = analyzer.run(&engine)
            var o = QueueBook.ViewOptions(limit: limit, destination: destination, ids: destination != nil)
            o.idLimit = 1000
            let view = engine.queueView(at: nil, o) ?? QueueBook().view()
            if json {
                out.write(StatusRouter.jsonBytes(view))
            } else {
                out.write(Array(view.text().utf8))
            }
        } else if alerts {
            // The daemon's engine, with its tracker: the transitions as they come.
            var engine = analyzer.engine(tracker: DeferralTracker(config: loaded.config.tracker, hints: loaded.hints))
            let sink: any AlertSink = json ? JSONLinesAlertSink(writer: out) : TextAlertSink(writer: out)
            result = analyzer.run(&engine) { engine in
                for t in engine.takeTransitions() { sink.write(t) }
            }
            for t in engine.summariesAtEnd() { sink.write(t) }
            let tracker = engine.tracker
            if tracker.futureOutliers > 0 {
                writeStderr("deferwatch: \(tracker.futureOutliers) delivery lines were dated far ahead of the lines around them (a wrong clock?) and were not tracked")
            }
            if stats {
                writeStderr("deferwatch: tracker: \(tracker.trackedKeys) destination keys tracked (cap \(tracker.config.maxKeys)), \(tracker.openAlertCount) alerts open at the end")
            }
        } else {
            var engine = analyzer.engine(report: ReportBuilder())
            result = analyzer.run(&engine)
            var report = engine.finishReport()!
            report.inputs = result.order
            report.inputErrors = result.errors.map(\.description)
            if json {
                out.write(report.json(limit: nil))
            } else {
                out.write(report.text(limit: limit))
            }
        }
        out.flush()
        if stats {
            let c = result.counters
            writeStderr("deferwatch: \(c.lines) lines (postfix \(c.postfixLines), exim \(c.eximLines), other programs \(c.otherProgramLines), unrecognised \(c.unrecognisedLines), oversized \(c.oversizedLines)), \(c.deliveries) delivery attempts")
        }
        if !result.errors.isEmpty { throw ExitCode(1) }
    }
}

/// The logs a command reads, as `analyze` reads them (shared with `rules suggest`).
struct LogInputOptions: ParsableArguments {
    @Argument(help: ArgumentHelp("Log files to read (- for standard input).", valueName: "file"))
    var files: [String] = []

    @Option(name: .long, help: ArgumentHelp("A systemd journal file or directory to read (repeatable), such as a journal copied from another host or /var/log/journal/remote.", valueName: "path"))
    var journal: [String] = []

    @Option(name: .long, help: ArgumentHelp("Host name for lines that carry none (Exim mainlog). Default: this machine's.", valueName: "name"))
    var host: String?

    @Flag(name: .long, help: "Timestamps without a zone are UTC (default: the local time zone).")
    var utc = false

    func validate() throws {
        if files.isEmpty && journal.isEmpty { throw ValidationError("give at least one log file (- for standard input) or --journal PATH") }
    }

    func batch(rules: RuleSet) -> BatchAnalyzer.Options {
        var batch = BatchAnalyzer.Options(inputs: files, rules: rules)
        batch.journals = journal
        if let host { batch.defaultHost = host }
        if utc { batch.zone = FixedOffsetZone(seconds: 0) }
        return batch
    }
}
