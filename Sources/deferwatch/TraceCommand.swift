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
        let zone: any LocalTimeZone = utc ? FixedOffsetZone(seconds: 0) : SystemTimeZone()
        let hostName = host ?? SystemTimeZone.hostName()
        var finder = MessageTrace.Finder(query: MessageTrace.Query(query))
        var failed = false
        failed = !LogLines.read(from, zone: zone, host: hostName) { r in finder.take(r) } || failed
        var collector = MessageTrace.Collector(finder)
        if !finder.matched.isEmpty {
            // Records come parsed: the pipeline's own header parser is not used.
            var pipeline = LogPipeline(header: LineHeaderParser(yearHint: 2000, monthHint: 1, zone: zone, defaultHost: hostName),
                                       rules: loaded.rules)
            _ = LogLines.read(from, zone: zone, host: hostName) { r in
                var event: DeliveryEvent?
                pipeline.process(record: r, emit: { event = $0 })
                collector.take(r, event: event)
            }
        }
        let out = FDWriter(fd: 1)
        let traces = collector.result
        for t in traces {
            if json {
                let w = JSONWriter()
                t.writeJSON(to: w)
                w.newline()
                out.write(w.bytes)
            } else {
                out.write(t.text + "\n")
            }
        }
        out.flush()
        if traces.isEmpty {
            writeStderr("deferwatch: no message in \(from.joined(separator: ", ")) matches \(query)")
            throw ExitCode(1)
        }
        if failed { throw ExitCode(1) }
    }
}

/// Reads log files line by line into records, as `analyze` does (gzip detected, the
/// reference date of each file its modification time).
enum LogLines {
    /// False when a file could not be read (said on stderr).
    static func read(_ paths: [String], zone: any LocalTimeZone, host: String,
                     _ body: (LogRecord) -> Void) -> Bool {
        var ok = true
        let hostBytes = Array(host.utf8)
        hostBytes.withUnsafeBufferPointer { hb in
            for path in paths {
                let reader = ChunkReader(path: path)
                do {
                    let (fd, info) = try reader.open()
                    let end = SystemTimeZone.date(of: info.mtime)
                    var header = LineHeaderParser(yearHint: end.year, monthHint: end.month, dayHint: end.day, zone: zone, defaultHost: host)
                    var splitter = LineSplitter()
                    try reader.read(fd: fd, body: { chunk in
                        splitter.feed(chunk) { l in if let r = header.parse(l, defaultHostBuffer: hb) { body(r) } }
                    })
                    splitter.finish { l in if let r = header.parse(l, defaultHostBuffer: hb) { body(r) } }
                } catch {
                    writeStderr("deferwatch: \(error)")
                    ok = false
                }
            }
        }
        return ok
    }
}
