import ArgumentParser
import DeferWatchCore
import DeferWatchDaemon

struct TraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Follow one message through the logs: received, each delivery attempt with its cause, the outcome.",
        discussion: """
        QUERY is a queue id (Postfix, 4XyZ12abcD) or message id (Exim, 1vQx2a-000Abc-5Z),
        a recipient or sender address, or a Message-ID header (<...@...>). Every message it
        names is shown, in the order first seen, with every line of it in log order:
        received (client, sender, size, Message-ID), each attempt per recipient with its
        relay, dsn and the cause deferwatch gives it, the bounce it created (traced too),
        removal; then the outcome per recipient. The logs are read twice (first to find the
        messages, then their lines), as `analyze` reads them (.gz, several files oldest first).

        Examples:
          deferwatch trace --from /var/log/mail.log user@gmail.com
          deferwatch trace --from /var/log/exim4/mainlog --from /var/log/exim4/mainlog.1 1vQx2a-000Abc-5Z
          deferwatch trace --from /var/log/mail.log '<20261201.abc@example.org>' --json

        Exit status 0 when a message was found, 1 when none was, 2 on bad usage.
        """
    )

    @Argument(help: ArgumentHelp("A queue id, an address or a Message-ID.", valueName: "query"))
    var query: String

    @Option(name: .long, help: ArgumentHelp("A log file to read (repeatable; - for standard input is not allowed: it is read twice).", valueName: "file"))
    var from: [String] = []

    @Option(name: .long, help: ArgumentHelp("Host name for lines that carry none (Exim mainlog). Default: this machine's.", valueName: "name"))
    var host: String?

    @Flag(name: .long, help: "Timestamps without a zone are UTC (default: the local time zone).")
    var utc = false

    @Flag(name: .long, help: "Print one JSON object per message.")
    var json = false

    @OptionGroup var options: ConfigOptions

    func validate() throws {
        if from.isEmpty { throw ValidationError("give the logs to read with --from FILE") }
        if from.contains("-") { throw ValidationError("trace reads its logs twice: give files, not standard input") }
        if query.isEmpty { throw ValidationError("the query is empty") }
    }

    func run() throws {
        let loaded = try options.load()
        // One thread: the tap sees each event settled, in log order (as analyze reads).
        var batch = BatchAnalyzer.Options(inputs: from, rules: loaded.rules)
        batch.threads = 1
        if let host { batch.defaultHost = host }
        if utc { batch.zone = FixedOffsetZone(seconds: 0) }
        let analyzer = BatchAnalyzer(options: batch)
        func pass(_ tap: @escaping (LogRecord, DeliveryEvent?) -> Void) -> BatchAnalyzer.Result {
            var engine = analyzer.engine()
            engine.recordTap = tap
            return analyzer.run(&engine)
        }
        let finder = Box(MessageTrace.Finder(query: MessageTrace.Query(query)))
        let first = pass { r, _ in finder.value.take(r) }
        let collector = Box(MessageTrace.Collector(finder.value))
        if !finder.value.matched.isEmpty {
            _ = pass { r, e in collector.value.take(r, event: e) }
        }
        let traces = collector.value.result
        printEach(traces, json: json, { t, w in t.writeJSON(to: w) }, text: { $0.text + "\n" })
        if traces.isEmpty {
            writeStderr("deferwatch: no message in \(from.joined(separator: ", ")) matches \(query)")
            throw ExitCode(1)
        }
        if !first.errors.isEmpty { throw ExitCode(1) }
    }
}

/// A value an escaping closure changes (the record tap's state).
private final class Box<T> {
    var value: T
    init(_ value: T) { self.value = value }
}
