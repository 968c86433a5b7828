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

    /// - renderLines: also write each event's JSON line (`analyze --events`) on the worker
    ///   threads, for the events that `settle` will not change.
    /// - hashDestinations: take the hashes the tracker and the report key events under on
    ///   the worker threads.
    init(inputs: [Input], rules: RuleSet, zone: any LocalTimeZone, defaultHost: String, maxLineLength: Int, threads: Int,
         renderLines: Bool = false, hashDestinations: Bool = false, fields: EventFields = .all, collectMessages: Bool = false) {
        self.collectMessages = collectMessages
        self.inputs = inputs
        self.fields = fields
        self.renderLines = renderLines
        self.hashDestinations = hashDestinations
        var jobs: [Job] = []
        for (i, input) in inputs.enumerated() {
            if input.info.isStdin || Self.isCompressed(input.fd) {
                jobs.append(Job(input: i, work: .stream))
            } else {
                for (s, e) in Self.segments(fd: input.fd, size: input.info.size) {
                    jobs.append(Job(input: i, work: .range(start: s, end: e, last: e == input.info.size)))
                }
            }
        }
        self.jobs = jobs
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
            while nextJob < jobs.count && nextJob > consuming + ahead { cond.wait() }
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
            switch job.work {
            case .range(let start, let end, let last):
                var pos = start
                var oversizedSoFar = 0
                while pos < end {
                    let n = pread(input.fd, buffer.baseAddress, Int(min(Int64(Self.batchBytes), end - pos)), off_t(pos))
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 {
                        batch.error = InputError(path: input.path, operation: "read failed", errno: n < 0 ? errno : EIO)
                        break
                    }
                    pos += Int64(n)
                    splitter.feed(UnsafeRawBufferPointer(start: buffer.baseAddress, count: n)) { line in
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
            case .stream:
                var pending: Int64 = 0
                var oversizedSoFar = 0
                do {
                    try ChunkReader(path: input.path).read(fd: input.fd, body: { chunk in
                        splitter.feed(chunk) { line in pipeline.process(line: line, matched: { batch.take(&$0, $1, writer, hash: hashDestinations) }); batch.takeMessages(&pipeline) }
                        pending += Int64(chunk.count)
                        if pending >= Self.batchBytes {
                            batch.bytes = pending
                            pending = 0
                            batch.oversized = splitter.oversizedLines - oversizedSoFar
                            oversizedSoFar = splitter.oversizedLines
                            finish(&batch, &pipeline, into: j, done: false)
                            batch = newBatch(worker)
                        }
                    }, closes: false)
                } catch {
                    batch.error = error
                }
                splitter.finish { line in pipeline.process(line: line, matched: { batch.take(&$0, $1, writer, hash: hashDestinations) }); batch.takeMessages(&pipeline) }
                batch.bytes = pending
                batch.oversized = splitter.oversizedLines - oversizedSoFar
                finish(&batch, &pipeline, into: j, done: true)
            }
        }
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
