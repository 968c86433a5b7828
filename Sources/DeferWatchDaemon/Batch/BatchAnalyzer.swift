#if canImport(Glibc)
import Glibc
#endif
import DeferWatchCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Runs the pipeline over finished logs (files, rotated .gz archives, stdin) for
/// `deferwatch analyze`. Inputs are read oldest first (by modification time, then by
/// rotation number), so `mail.log mail.log.1 mail.log.2.gz` in any order reads in log order.
/// A bad input is reported and skipped; the others are still read.
public final class BatchAnalyzer {
    public struct Options {
        public var inputs: [String]
        /// Journal files or directories, read after the text inputs.
        public var journals: [String] = []
        public var rules: RuleSet
        public var defaultHost: String
        public var zone: any LocalTimeZone
        public var maxLineLength: Int = 64 * 1024
        /// Show a progress line on stderr (only worth it on a terminal and a large input).
        public var progress: Bool = false
        /// Threads that read and parse (the results are the same with any number).
        public var threads: Int = ProcessInfo.processInfo.activeProcessorCount
        /// The parsing threads take the hashes the tracker and the report key events under
        /// (output unchanged; less work on the one thread that consumes the events).
        public var hashesAhead = false
        /// The fields the events' consumer reads (the report, the tracker or `--events`).
        public var fields = EventFields.all
        /// Memory that .gz files inflated whole (libdeflate) may take at once, over all the
        /// threads; a file that does not fit streams through zlib. 0: every file streams.
        public var inflateBudget = 96 << 20

        public init(inputs: [String], rules: RuleSet, defaultHost: String = SystemTimeZone.hostName(),
                    zone: any LocalTimeZone = SystemTimeZone()) {
            self.inputs = inputs
            self.rules = rules
            self.defaultHost = defaultHost
            self.zone = zone
        }
    }

    public struct Result {
        public var counters = LineCounters()
        public var unrecognisedSamples: [String] = []
        public var errors: [InputError] = []
        /// The inputs in the order they were read.
        public var order: [String] = []
    }

    public let options: Options

    public init(options: Options) { self.options = options }

    /// The engine every mode of `analyze` drives: a pipeline for these options, feeding
    /// `tracker` (alert transitions), `report`, `queue` (the deferred queue), some or none.
    /// With a queue, the options' fields must keep every recipient (`EventFields.queue`).
    public func engine(tracker: DeferralTracker? = nil, report: ReportBuilder? = nil, queue: QueueConfig? = nil) -> Engine {
        let now = SystemTimeZone.date(of: Int64(time(nil)))
        var pipeline = LogPipeline(
            header: LineHeaderParser(yearHint: now.year, monthHint: now.month, dayHint: now.day, zone: options.zone,
                                     defaultHost: options.defaultHost),
            rules: options.rules)
        pipeline.fields = options.fields
        // Sender domains for the tracker's alerts and the report's table of senders; the
        // queue's messages leaving.
        pipeline.collectMessages = tracker != nil || report != nil || queue != nil
        return Engine(pipeline: pipeline, tracker: tracker, report: report, queue: queue)
    }

    /// Reads every input into `engine`, in log order, with the hashes its tracker and report
    /// key events under taken by the parsing threads when `hashesAhead`. `drain` is called
    /// after each batch of lines, to take what the engine raised as it comes (the alert
    /// transitions of `analyze --alerts`).
    public func run(_ engine: inout Engine, drain: (inout Engine) -> Void = { _ in }) -> Result {
        run(&engine, each: { _ in }, render: false, lines: { _ in }, drain: drain)
    }

    /// Writes every delivery attempt as its JSON line (`analyze --events`), in log order.
    /// With several threads, the threads that parse write the lines too, except those of
    /// events whose cause is inherited in log order; those are written here, once the
    /// engine settled them.
    /// Reads every input into `engine`; `each` sees every event after the engine took it.
    public func run(_ engine: inout Engine, each: (inout DeliveryEvent) -> Void) -> Result {
        run(&engine, each: each, render: false, lines: { _ in }, drain: { _ in })
    }

    public func runEventLines(_ engine: inout Engine, _ write: (UnsafeRawBufferPointer) -> Void) -> Result {
        let w = JSONWriter(capacity: 1024)
        return run(&engine, each: { e in
            w.reset()
            e.writeJSON(to: w)
            w.newline()
            w.withBytes(write)
        }, render: true, lines: write, drain: { _ in })
    }

    /// `each` sees every event once the engine took it (passed `inout` only so that it is
    /// not copied on the way: events made by another thread would have every string
    /// retained, on cache lines of another core).
    private func run(_ engine: inout Engine, each: (inout DeliveryEvent) -> Void, render: Bool,
                     lines: (UnsafeRawBufferPointer) -> Void, drain: (inout Engine) -> Void) -> Result {
        var result = Result()
        var opened: [(path: String, fd: Int32, info: ChunkReader.Info, given: Int)] = []
        for (i, path) in options.inputs.enumerated() {
            do {
                let (fd, info) = try ChunkReader(path: path).open()
                opened.append((path, fd, info, i))
            } catch {
                result.errors.append(error)
                writeStderr("deferwatch: \(error)")
            }
        }
        opened.sort { a, b in
            if a.info.isStdin != b.info.isStdin { return b.info.isStdin }
            if a.info.mtime != b.info.mtime { return a.info.mtime < b.info.mtime }
            let ra = Self.rotationNumber(a.path), rb = Self.rotationNumber(b.path)
            if ra != rb { return ra > rb }
            return a.given < b.given
        }
        let totalBytes = opened.reduce(Int64(0)) { $0 + $1.info.size }
        var progress = Progress(shown: options.progress && isatty(2) != 0 && totalBytes > 64 << 20, total: totalBytes)
        var doneBytes: Int64 = 0

        let budget = InflateBudget(bytes: options.inflateBudget)
        if options.threads > 1 && !opened.isEmpty {
            result.order = opened.map(\.path)
            let reader = ParallelReader(inputs: opened.map { ParallelReader.Input(path: $0.path, fd: $0.fd, info: $0.info) },
                                        rules: options.rules, zone: options.zone, defaultHost: options.defaultHost,
                                        maxLineLength: options.maxLineLength, threads: options.threads,
                                        renderLines: render, hashDestinations: options.hashesAhead,
                                        fields: options.fields, collectMessages: engine.collectsMessages,
                                        inflateBudget: budget)
            reader.consume { input, batch in
                if render {
                    batch.rendered.withUnsafeBytes { rendered in
                        var start = 0
                        var s = 0
                        for i in batch.events.indices {
                            while s < batch.messages.count, batch.messages[s].at <= i {
                                engine.ingest(message: batch.messages[s].record)
                                s += 1
                            }
                            engine.ingest(matched: &batch.events[i], batch.settling[i])
                            let end = batch.lineEnds[i]
                            if end < 0 {
                                each(&batch.events[i])
                            } else {
                                lines(UnsafeRawBufferPointer(rebasing: rendered[start..<Int(end)]))
                                start = Int(end)
                            }
                        }
                        while s < batch.messages.count {
                            engine.ingest(message: batch.messages[s].record)
                            s += 1
                        }
                    }
                } else {
                    let hashed = !batch.hashes.isEmpty
                    var s = 0
                    for i in batch.events.indices {
                        while s < batch.messages.count, batch.messages[s].at <= i {
                            engine.ingest(message: batch.messages[s].record)
                            s += 1
                        }
                        engine.ingest(matched: &batch.events[i], batch.settling[i], hashes: hashed ? batch.hashes[i] : nil)
                        each(&batch.events[i])
                    }
                    while s < batch.messages.count {
                        engine.ingest(message: batch.messages[s].record)
                        s += 1
                    }
                }
                engine.absorb(counters: batch.counters, samples: batch.samples)
                engine.countOversized(batch.oversized)
                drain(&engine)
                doneBytes += batch.bytes
                progress.report(opened[input].path, done: doneBytes, lines: engine.counters.lines)
                if let error = batch.error { progress.fail(error, into: &result) }
            }
            opened.removeAll()
        }
        for input in opened {
            result.order.append(input.path)
            let end = SystemTimeZone.date(of: input.info.mtime)
            engine.header = LineHeaderParser(yearHint: end.year, monthHint: end.month, dayHint: end.day, zone: options.zone,
                                             defaultHost: options.defaultHost)
            var splitter = LineSplitter(maxLineLength: options.maxLineLength)
            let base = doneBytes
            // For the progress line (its closure may not capture the engine).
            var linesSoFar = engine.counters.lines
            do {
                try ChunkReader(path: input.path).read(fd: input.fd, body: { chunk in
                    splitter.feed(chunk) { line in engine.ingest(line: line, each: each) }
                    drain(&engine)
                    linesSoFar = engine.counters.lines
                }, progress: progress.shown ? { n in
                    progress.report(input.path, done: base + n, lines: linesSoFar)
                } : nil, budget: budget)
            } catch {
                progress.fail(error, into: &result)
            }
            splitter.finish { line in engine.ingest(line: line, each: each) }
            engine.countOversized(splitter.oversizedLines)
            drain(&engine)
            doneBytes += input.info.size
        }
        progress.clear()
        for path in options.journals {
            result.order.append(path)
            do {
                let reader = try JournalReader(path: path)
                do {
                    try reader.readToEnd { record in
                        engine.ingest(record: record, each: each)
                        drain(&engine)
                    }
                } catch {
                    progress.fail(error, into: &result)
                }
                if reader.unreadable > 0 {
                    writeStderr("deferwatch: \(path): \(reader.unreadable) journal entries could not be read (a damaged journal file: "
                                + "journalctl --verify says where); read on past them")
                }
                // Entries of other programs were skipped inside the reader.
                engine.countSkipped(otherProgramEntries: reader.entries - reader.mailEntries)
            } catch {
                progress.fail(error, into: &result)
            }
        }
        result.counters = engine.counters
        result.unrecognisedSamples = engine.unrecognisedSamples
        return result
    }

    /// `mail.log.3.gz` -> 3, `mail.log` -> 0.
    static func rotationNumber(_ path: String) -> Int {
        var name = Substring(path.split(separator: "/").last ?? "")
        for ext in [".gz", ".bz2", ".xz"] where name.hasSuffix(ext) { name = name.dropLast(ext.count) }
        guard let dot = name.lastIndex(of: ".") else { return 0 }
        return Int(name[name.index(after: dot)...]) ?? 0
    }
}

/// The progress line on stderr (when shown: a terminal and a large input), at most twice a
/// second, and what an input that fails says: one way for the parallel and the
/// sequential reading alike.
private struct Progress {
    let shown: Bool
    let total: Int64
    private var last = monotonicSeconds()

    init(shown: Bool, total: Int64) {
        self.shown = shown
        self.total = total
    }

    mutating func report(_ path: String, done: Int64, lines: Int) {
        guard shown else { return }
        let now = monotonicSeconds()
        guard now - last >= 0.5 else { return }
        last = now
        let pct = total > 0 ? Int(100 * done / total) : 0
        writeProgress("deferwatch: \(path): \(pct)%, \(lines) lines")
    }

    func clear() { if shown { writeProgress("") } }

    /// An input that failed: kept in the result, said on stderr (below the progress line).
    func fail(_ error: InputError, into result: inout BatchAnalyzer.Result) {
        result.errors.append(error)
        clear()
        writeStderr("deferwatch: \(error)")
    }
}

private func writeProgress(_ s: String) {
    // Carriage return and clear-to-end-of-line: one line that updates in place.
    let text = "\r\u{1B}[K" + s
    _ = text.withCString { Glibc.write(2, $0, strlen($0)) }
}
