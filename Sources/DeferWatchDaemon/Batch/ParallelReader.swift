#if canImport(Glibc)
import Glibc
#endif
import DeferWatchCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Reads finished inputs on several threads and hands their events out in log order, so
/// `analyze` uses every core with results identical to one. Plain files are cut into
/// segments at line ends; a compressed file or standard input is one stream, read in
/// order by one thread. Threads parse lines and match rules (the pure step of the
/// classifier); the caller's thread settles inheritance in log order and consumes the
/// events. Memory stays bounded: threads run at most a few segments ahead of the consumer.
final class ParallelReader: @unchecked Sendable {
    struct Input {
        var path: String
        var fd: Int32
        var info: ChunkReader.Info
    }

    enum Work {
        case range(start: Int64, end: Int64, last: Bool)
        case stream
        /// Part `part` of `parts` of a .gz file inflated whole (`WholeGzip`): the text is
        /// cut at line ends like a plain file's, so several threads parse one file. The job
        /// of part 0 inflates it; if that is declined, it streams the file through zlib
        /// and the other parts are empty.
        case inflated(part: Int, parts: Int)
    }

    /// A .gz input read as parts: its text once inflated, kept while parts are left.
    final class Whole {
        enum State { case undecided, inflating, inflated(InflatedText), streamed }
        var state = State.undecided
        var partsLeft: Int
        /// Where each part read ends, and how many from the first are read: the text
        /// before the end of that run is given back.
        var ends: [Int?]
        var readRun = 0
        init(parts: Int) {
            partsLeft = parts
            ends = Array(repeating: nil, count: parts)
        }
    }

    struct Job {
        var input: Int
        var work: Work
    }

    final class Output {
        var batches: [Batch] = []
        var done = false
    }

    static let segmentBytes: Int64 = 1 << 20
    /// Bytes of log per batch. Small, so that a batch's events and strings are still in
    /// the caches when the consumer reads them and when the worker frees them, and freed
    /// memory is reused while warm: with 1 MiB batches the threads together spent a
    /// quarter more CPU than one thread did on the same work.
    static let batchBytes = 64 << 10
    /// Batches queued per job: a whole segment's worth, so a worker is not held up before
    /// the consumer reaches its job.
    static let maxQueued = Int(segmentBytes) / batchBytes + 4
    static let workerNice: Int32 = 5

    private let inputs: [Input]
    private let jobs: [Job]
    private let outputs: [Output]
    private let rules: RuleSet
    private let zone: any LocalTimeZone
    private let defaultHost: String
    private let maxLineLength: Int
    private let cond = ConditionLock()
    private var nextJob = 0
    private var recycled: [[Batch]]
    private var consuming = 0
    private let ahead: Int
    private let renderLines: Bool
    private let hashDestinations: Bool
    private let fields: EventFields
    private let collectMessages: Bool
    private let inflateBudget: InflateBudget?
    /// Beside each input: its parts' shared text, for a .gz file read in parts.
    private let wholes: [Whole?]
    /// The inputs read in parts, in order; the first of them perhaps still to inflate; how
    /// many texts are inflated and not yet freed.
    private let wholeInputs: [Int]
    private var nextInflation = 0
    private var textsAlive = 0

    /// - renderLines: also write each event's JSON line (`analyze --events`) on the worker
    ///   threads, for the events that `settle` will not change.
    /// - hashDestinations: take the hashes the tracker and the report key events under on
    ///   the worker threads.
    init(inputs: [Input], rules: RuleSet, zone: any LocalTimeZone, defaultHost: String, maxLineLength: Int, threads: Int,
         renderLines: Bool = false, hashDestinations: Bool = false, fields: EventFields = .all, collectMessages: Bool = false,
         inflateBudget: InflateBudget? = nil) {
        self.collectMessages = collectMessages
        self.inflateBudget = inflateBudget
        self.inputs = inputs
        self.fields = fields
        self.renderLines = renderLines
        self.hashDestinations = hashDestinations
        var jobs: [Job] = []
        var wholes: [Whole?] = []
        for (i, input) in inputs.enumerated() {
            wholes.append(nil)
            if input.info.isStdin {
                jobs.append(Job(input: i, work: .stream))
            } else if Self.isCompressed(input.fd) {
                // Parts of about a segment each, by the size the trailer gives, when the
                // file can ever fit in the budget; else one stream.
                if let budget = inflateBudget, let size = WholeGzip.plannedSize(fd: input.fd),
                   size.compressed + size.inflated + WholeGzip.page <= budget.limit {
                    let parts = max(1, (size.inflated + Int(Self.segmentBytes) - 1) / Int(Self.segmentBytes))
                    wholes[i] = Whole(parts: parts)
                    for k in 0..<parts { jobs.append(Job(input: i, work: .inflated(part: k, parts: parts))) }
                } else {
                    jobs.append(Job(input: i, work: .stream))
                }
            } else {
                for (s, e) in Self.segments(fd: input.fd, size: input.info.size) {
                    jobs.append(Job(input: i, work: .range(start: s, end: e, last: e == input.info.size)))
                }
            }
        }
        self.jobs = jobs
        self.wholes = wholes
        wholeInputs = wholes.indices.filter { wholes[$0] != nil }
        outputs = jobs.map { _ in Output() }
        self.rules = rules
        self.zone = zone
        self.defaultHost = defaultHost
        self.maxLineLength = maxLineLength
        ahead = threads + 1
        let workers = max(1, min(threads, jobs.count))
        recycled = Array(repeating: [], count: workers)
        for w in 0..<workers {
            startThread(name: "deferwatch-read", stackSize: 1 << 20) { [self] in self.work(w) }
        }
    }

    /// Calls `body` with every batch in log order (on the caller's thread), then closes the inputs.
    func consume(_ body: (Int, inout Batch) -> Void) {
        for j in jobs.indices {
            cond.lock()
            consuming = j
            cond.broadcast()
            while true {
                while outputs[j].batches.isEmpty && !outputs[j].done { cond.wait() }
                if outputs[j].batches.isEmpty { break }
                var batch = outputs[j].batches.removeFirst()
                cond.broadcast()
                cond.unlock()
                body(jobs[j].input, &batch)
                cond.lock()
                recycled[batch.worker].append(batch)
            }
            cond.unlock()
        }
        cond.lock()
        consuming = jobs.count
        cond.broadcast()
        cond.unlock()
        for input in inputs where input.fd != 0 { close(input.fd) }
    }

    // MARK: - Threads

    private func work(_ worker: Int) {
        // The consumer (the caller's thread) is the one that must keep going: when all
        // threads want a core, the workers give way (a per-thread nice value on Linux).
        if let tid = Self.threadID() { _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(tid), Self.workerNice) }
        var pipeline = LogPipeline(header: LineHeaderParser(yearHint: 2000, monthHint: 1, zone: zone, defaultHost: defaultHost), rules: rules)
        pipeline.matchOnly = true
        pipeline.fields = fields
        pipeline.collectMessages = collectMessages
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.batchBytes, alignment: 16)
        let writer = renderLines ? JSONWriter(capacity: 1024) : nil
        defer { buffer.deallocate() }
        while true {
            cond.lock()
            while nextJob < jobs.count && nextJob > consuming + ahead {
                // A thread held back inflates the next .gz file meanwhile, so that its parts
                // are ready when their turn comes (the others wait for it otherwise).
                if let i = inflationAhead() {
                    inflate(wholes[i]!, input: inputs[i])
                } else {
                    cond.wait()
                }
            }
            var done = recycled[worker]
            recycled[worker].removeAll()
            guard nextJob < jobs.count else { cond.unlock(); return }
            let j = nextJob
            nextJob += 1
            cond.unlock()
            done.removeAll() // freed here, by the thread that allocated it

            let job = jobs[j]
            let input = inputs[job.input]
            let end = SystemTimeZone.date(of: input.info.mtime)
            pipeline.header = LineHeaderParser(yearHint: end.year, monthHint: end.month, dayHint: end.day, zone: zone,
                                               defaultHost: defaultHost)
            var splitter = LineSplitter(maxLineLength: maxLineLength)
            var batch = newBatch(worker)
            /// Parses [start, end), which begins a line and ends one (or the input), in
            /// batches of at most batchBytes; `read(pos, n)` gives up to n bytes at pos.
            func segment(_ start: Int64, _ end: Int64, last: Bool,
                         read: (Int64, Int) throws(InputError) -> UnsafeRawBufferPointer) {
                var pos = start
                var oversizedSoFar = 0
                while pos < end {
                    let bytes: UnsafeRawBufferPointer
                    do {
                        bytes = try read(pos, Int(min(Int64(Self.batchBytes), end - pos)))
                    } catch {
                        batch.error = error
                        break
                    }
                    let n = bytes.count
                    pos += Int64(n)
                    splitter.feed(bytes) { line in
                        pipeline.process(line: line, matched: { batch.take(&$0, $1, writer, hash: hashDestinations) }); batch.takeMessages(&pipeline)
                    }
                    if pos < end {
                        batch.bytes = Int64(n)
                        batch.oversized = splitter.oversizedLines - oversizedSoFar
                        oversizedSoFar = splitter.oversizedLines
                        finish(&batch, &pipeline, into: j, done: false)
                        batch = newBatch(worker)
                    } else {
                        batch.bytes += Int64(n)
                    }
                }
                if last || batch.error != nil {
                    splitter.finish { line in pipeline.process(line: line, matched: { batch.take(&$0, $1, writer, hash: hashDestinations) }); batch.takeMessages(&pipeline) }
                }
                batch.oversized = splitter.oversizedLines - oversizedSoFar
                finish(&batch, &pipeline, into: j, done: true)
            }
            var work = job.work
            if case .inflated(let part, let parts) = work, let whole = wholes[job.input] {
                switch text(of: whole, input: input, first: part == 0) {
                case .some(let text):
                    let (start, end) = Self.part(part, of: parts, in: text.bytes)
                    segment(Int64(start), Int64(end), last: part == parts - 1) { pos, n in
                        UnsafeRawBufferPointer(rebasing: text.bytes[Int(pos)..<(Int(pos) + n)])
                    }
                    cond.lock()
                    whole.ends[part] = end
                    while whole.readRun < parts, let e = whole.ends[whole.readRun] {
                        text.discard(upTo: e)
                        whole.readRun += 1
                    }
                    whole.partsLeft -= 1
                    // The last part read frees the text (and its budget).
                    if whole.partsLeft == 0 {
                        whole.state = .streamed
                        textsAlive -= 1
                        cond.broadcast()
                    }
                    cond.unlock()
                    continue
                case .none:
                    // Declined: part 0 streams the whole file, the other parts are empty.
                    if part != 0 {
                        finish(&batch, &pipeline, into: j, done: true)
                        continue
                    }
                    work = .stream
                }
            }
            switch work {
            case .range(let start, let end, let last):
                segment(start, end, last: last) { pos, n throws(InputError) in
                    while true {
                        let got = pread(input.fd, buffer.baseAddress, n, off_t(pos))
                        if got < 0 && errno == EINTR { continue }
                        if got <= 0 { throw InputError(path: input.path, operation: "read failed", errno: got < 0 ? errno : EIO) }
                        return UnsafeRawBufferPointer(start: buffer.baseAddress, count: got)
                    }
                }
            case .stream:
                var pending: Int64 = 0
                var oversizedSoFar = 0
                do {
                    try ChunkReader(path: input.path).read(fd: input.fd, body: { chunk in
                        // Batches of batchBytes, as for plain files: the reader's chunks
                        // are larger, and a queue of batches that large took tens of MB.
                        var from = 0
                        while from < chunk.count {
                            let n = min(Self.batchBytes - Int(pending), chunk.count - from)
                            splitter.feed(UnsafeRawBufferPointer(rebasing: chunk[from..<(from + n)])) { line in
                                pipeline.process(line: line, matched: { batch.take(&$0, $1, writer, hash: hashDestinations) }); batch.takeMessages(&pipeline)
                            }
                            from += n
                            pending += Int64(n)
                            if pending >= Self.batchBytes {
                                batch.bytes = pending
                                pending = 0
                                batch.oversized = splitter.oversizedLines - oversizedSoFar
                                oversizedSoFar = splitter.oversizedLines
                                finish(&batch, &pipeline, into: j, done: false)
                                batch = newBatch(worker)
                            }
                        }
                    }, closes: false, budget: inflateBudget)
                } catch {
                    batch.error = error
                }
                splitter.finish { line in pipeline.process(line: line, matched: { batch.take(&$0, $1, writer, hash: hashDestinations) }); batch.takeMessages(&pipeline) }
                batch.bytes = pending
                batch.oversized = splitter.oversizedLines - oversizedSoFar
                finish(&batch, &pipeline, into: j, done: true)
            case .inflated:
                preconditionFailure("an inflated part without its file")
            }
        }
    }

    /// The inflated text of a .gz file read in parts, nil when it streams. The first part's
    /// job inflates it; the others wait for that (jobs are handed out in order, so the
    /// first part's job is always taken first).
    private func text(of whole: Whole, input: Input, first: Bool) -> InflatedText? {
        cond.lock()
        defer { cond.unlock() }
        if first, case .undecided = whole.state { inflate(whole, input: input) }
        while true {
            switch whole.state {
            case .undecided, .inflating: cond.wait()
            case .inflated(let text): return text
            case .streamed: return nil
            }
        }
    }

    /// Inflates a .gz file read in parts (the lock held; it is let go meanwhile).
    private func inflate(_ whole: Whole, input: Input) {
        whole.state = .inflating
        cond.unlock()
        let text = inflateBudget.flatMap { WholeGzip.inflate(fd: input.fd, budget: $0) }
        cond.lock()
        whole.state = text.map { .inflated($0) } ?? .streamed
        if text != nil { textsAlive += 1 }
        cond.broadcast()
    }

    /// The next .gz file to inflate ahead of its turn (the lock held): while at most one
    /// text is held, so that memory stays at about two files'.
    private func inflationAhead() -> Int? {
        while nextInflation < wholeInputs.count {
            if case .undecided = wholes[wholeInputs[nextInflation]]!.state { break }
            nextInflation += 1
        }
        guard nextInflation < wholeInputs.count, textsAlive <= 1 else { return nil }
        return wholeInputs[nextInflation]
    }

    /// Part `k` of `parts` of `text`: from just after the first newline at or after its
    /// nominal start to the same point of the next part (the first part from 0, the last
    /// to the end), so the parts cover the text once, each a run of whole lines.
    static func part(_ k: Int, of parts: Int, in text: UnsafeRawBufferPointer) -> (Int, Int) {
        func cut(_ i: Int) -> Int {
            if i == 0 { return 0 }
            if i == parts { return text.count }
            let nominal = text.count / parts * i
            guard nominal > 0 else { return 0 }
            var p = nominal - 1
            while p < text.count && text[p] != UInt8(ascii: "\n") { p += 1 }
            return min(text.count, p + 1)
        }
        let start = cut(k)
        return (start, max(start, cut(k + 1)))
    }

    private func newBatch(_ worker: Int) -> Batch {
        var b = Batch()
        b.worker = worker
        // JSON lines take about as many bytes as the log lines they come from.
        if renderLines { b.rendered.reserveCapacity(Self.batchBytes * 5 / 4) }
        return b
    }

    /// Hands a batch to the consumer (waiting while it is far behind) and starts the counts anew.
    private func finish(_ batch: inout Batch, _ pipeline: inout LogPipeline, into j: Int, done: Bool) {
        batch.counters = pipeline.counters
        batch.samples = pipeline.unrecognisedSamples
        pipeline.resetCounts()
        cond.lock()
        // Also the job being consumed waits when its queue is full: a compressed file read
        // faster than it is consumed must not pile up. (No deadlock: the consumer drains the
        // job it waits on, and later jobs wait only for it.)
        while outputs[j].batches.count >= Self.maxQueued { cond.wait() }
        outputs[j].batches.append(batch)
        if done { outputs[j].done = true }
        cond.broadcast()
        // Batches the consumer is through with: freed here, by the thread that made them
        // (within a long compressed stream too, not only between jobs).
        var used = recycled[batch.worker]
        recycled[batch.worker].removeAll()
        cond.unlock()
        used.removeAll()
    }

    /// The kernel's id of the calling thread, from /proc/thread-self ("PID/task/TID"):
    /// Swift's Glibc module has no gettid(), and syscall() is variadic.
    static func threadID() -> Int? {
        var buf = [CChar](repeating: 0, count: 64)
        let n = readlink("/proc/thread-self", &buf, 63)
        guard n > 0 else { return nil }
        let link = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return link.split(separator: "/").last.flatMap { Int($0) }
    }
}
