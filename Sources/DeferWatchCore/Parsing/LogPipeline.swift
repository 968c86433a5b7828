#if canImport(Glibc)
import Glibc
#endif
/// What the pipeline saw, line by line.
public struct LineCounters: Sendable, Equatable, Codable {
    /// Every line handed to the pipeline.
    public var lines = 0
    public var postfixLines = 0
    public var eximLines = 0
    /// Lines of other programs (dovecot, opendkim, CRON, ...), skipped.
    public var otherProgramLines = 0
    /// deferwatch's own lines, never read back.
    public var ownLines = 0
    /// Lines with no timestamp/host/program deferwatch knows, skipped.
    public var unrecognisedLines = 0
    /// Lines over the length limit, skipped whole (counted by the line splitter).
    public var oversizedLines = 0
    /// Delivery attempts found.
    public var deliveries = 0

    public init() {}

    public var mailLines: Int { postfixLines + eximLines }

    public static func + (a: LineCounters, b: LineCounters) -> LineCounters {
        var c = a
        c.lines += b.lines
        c.postfixLines += b.postfixLines
        c.eximLines += b.eximLines
        c.otherProgramLines += b.otherProgramLines
        c.ownLines += b.ownLines
        c.unrecognisedLines += b.unrecognisedLines
        c.oversizedLines += b.oversizedLines
        c.deliveries += b.deliveries
        return c
    }
}

/// Lines in, classified delivery events out: header parsing, the Postfix and Exim parsers and
/// the classifier, with the counters of what was skipped. Pure: no I/O and no clock.
public struct LogPipeline {
    public var header: LineHeaderParser
    /// Replaced with `use(_:)`, which also forgets the relay names' providers.
    public private(set) var classifier: EventClassifier
    public var counters = LineCounters()
    /// The time of the newest record that had one.
    public var lastTime: Int64?
    /// The first few unrecognised lines, for the report (bounded).
    public private(set) var unrecognisedSamples: [String] = []
    public var sampleLimit = 5

    /// Takes another classifier: new rules on a reload (the relay names remember providers
    /// by the old ones, so they go).
    /// (Not a property observer: `classify` mutates the classifier for every event.)
    public mutating func use(_ classifier: EventClassifier) {
        self.classifier = classifier
        relays = RelayNames(rules: classifier.rules)
    }

    /// The classifier's second step for an event another pipeline matched (`matchOnly`),
    /// in log order (EventClassifier.settle).
    public mutating func settle(_ e: inout DeliveryEvent, _ next: EventClassifier.Settling) {
        classifier.settle(&e, next)
    }

    /// What other pipelines counted and sampled (the parallel reader's, in log order).
    public mutating func absorb(counters c: LineCounters, samples: [String]) {
        counters = counters + c
        for sample in samples where unrecognisedSamples.count < sampleLimit { unrecognisedSamples.append(sample) }
    }

    /// Starts the counters and samples again (one pipeline reused for several inputs).
    public mutating func resetCounts() {
        counters = LineCounters()
        unrecognisedSamples = []
    }
    /// The syslog identifier deferwatch writes its own alerts under: never read back.
    public var ownIdentifier: [UInt8] = Array("deferwatch".utf8)

    /// Only the classifier's first, pure step (`EventClassifier.match`); the caller settles
    /// the events in log order (parallel reading).
    public var matchOnly = false
    /// The fields the events' consumer reads: strings nobody reads are not made.
    public var fields = EventFields.all
    /// Whether the lines that speak of messages but are no delivery attempt are read: their
    /// senders (qmgr `from=<...>`, Exim `<=`) and their leaving the queue (qmgr `removed`,
    /// Exim `Completed`), into `messages`, for the caller to take after each line.
    public var collectMessages = false
    public var messages: [MessageRecord] = []
    /// Sees every Postfix and Exim record with its classified event, if any (`trace`; not
    /// with `matchOnly`, whose events are not settled yet).
    public var recordTap: ((LogRecord, DeliveryEvent?) -> Void)?
    private var scratch = RuleSet.Scratch()

    private var relays: RelayNames
    private let postfix = PostfixParser()
    private let exim = EximParser()
    private var lastHostBytes: [UInt8] = []
    private var lastHost = ""
    private let defaultHostStorage: PinnedBytes

    public init(header: LineHeaderParser, rules: RuleSet) {
        self.header = header
        self.classifier = EventClassifier(rules: rules)
        relays = RelayNames(rules: rules)
        defaultHostStorage = PinnedBytes(header.defaultHost)
    }

    /// One text line (no newline). Calls `emit` for the delivery attempt it holds, if any.
    public mutating func process(line: Bytes, emit: (DeliveryEvent) -> Void) {
        process(line: line, handle: { emit($0) })
    }

    /// `process(line:emit:)` for a caller that takes the event over: it is handed `inout`,
    /// so it is not copied (a copy retains each of its strings).
    public mutating func process(line: Bytes, handle: (inout DeliveryEvent) -> Void) {
        process(line: line, matched: { e, _ in handle(&e) })
    }

    /// With `matchOnly`: each event with what `EventClassifier.settle` must still do with it
    /// (without `matchOnly`, always `.done`).
    public mutating func process(line: Bytes, matched handle: (inout DeliveryEvent, EventClassifier.Settling) -> Void) {
        counters.lines += 1
        guard let record = header.parse(line, defaultHostBuffer: defaultHostStorage.bytes) else {
            counters.unrecognisedLines += 1
            if unrecognisedSamples.count < sampleLimit { unrecognisedSamples.append(String(line.slice(0, 300).string)) }
            return
        }
        process(record: record, countLine: false, matched: handle)
    }

    /// One record from a structured source (the journal), or from `process(line:)`.
    public mutating func process(record: LogRecord, countLine: Bool = true, emit: (DeliveryEvent) -> Void) {
        process(record: record, countLine: countLine, handle: { emit($0) })
    }

    /// `process(record:countLine:emit:)` handing the event over `inout`, uncopied.
    public mutating func process(record: LogRecord, countLine: Bool = true, handle: (inout DeliveryEvent) -> Void) {
        process(record: record, countLine: countLine, matched: { e, _ in handle(&e) })
    }

    /// `process(record:countLine:handle:)` with what settling must still do (`matchOnly`).
    public mutating func process(record: LogRecord, countLine: Bool = true,
                                 matched handle: (inout DeliveryEvent, EventClassifier.Settling) -> Void) {
        if countLine { counters.lines += 1 }
        if let t = record.time, t > (lastTime ?? Int64.min) { lastTime = t }
        let program = record.program
        var event: DeliveryEvent?
        var relayHint: Int32?
        let isPostfix = PostfixParser.isPostfix(program: program)
        if isPostfix {
            counters.postfixLines += 1
            event = postfix.parse(record, host: hostString(record.host), fields: fields, relays: &relays, relayHint: &relayHint)
        } else if EximParser.isExim(program: program) {
            counters.eximLines += 1
            event = exim.parse(record, host: hostString(record.host), fields: fields, relays: &relays, relayHint: &relayHint)
        } else if ownIdentifier.withUnsafeBufferPointer({ program.elementsEqual($0) }) {
            counters.ownLines += 1
            return
        } else {
            counters.otherProgramLines += 1
            return
        }
        // take(): moved out, not copied (a copy retains and later releases every string).
        guard var e = event.take() else {
            if collectMessages, let r = isPostfix
                ? postfix.messageRecord(record, host: hostString(record.host)) : exim.messageRecord(record, host: hostString(record.host)) {
                messages.append(r)
            }
            recordTap?(record, nil)
            return
        }
        counters.deliveries += 1
        if matchOnly {
            let next = EventClassifier.match(&e, relayProvider: relayHint, rules: classifier.rules, scratch: &scratch)
            handle(&e, next)
        } else {
            classifier.classify(&e, relayProvider: relayHint)
            recordTap?(record, e)
            handle(&e, .done)
        }
    }

    /// Entries of a structured source that were read and were not mail (the journal's
    /// other programs), skipped before they became records: counted as other programs'
    /// lines of a text file are, by `run` and `analyze` alike.
    public mutating func countSkipped(otherProgramEntries n: Int) {
        counters.lines += n
        counters.otherProgramLines += n
    }

    /// The host as a String, reusing the previous one when the bytes are the same (most
    /// logs come from one host), so the common case allocates nothing.
    private mutating func hostString(_ bytes: Bytes) -> String {
        if lastHostBytes.count == bytes.count, lastHostBytes.withUnsafeBufferPointer({ a in
            a.isEmpty || memcmp(a.baseAddress!, bytes.baseAddress!, a.count) == 0
        }) { return lastHost }
        lastHostBytes = Array(bytes)
        lastHost = bytes.lowercasedString
        return lastHost
    }
}

/// Bytes at a stable address for as long as the owner lives.
final class PinnedBytes: @unchecked Sendable {
    private let storage: UnsafeMutableBufferPointer<UInt8>
    let bytes: Bytes

    init(_ content: [UInt8]) {
        storage = .allocate(capacity: max(1, content.count))
        _ = storage.initialize(from: content)
        bytes = Bytes(start: storage.baseAddress, count: content.count)
    }

    deinit { storage.deallocate() }
}
