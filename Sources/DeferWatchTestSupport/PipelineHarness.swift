import DeferWatchCore

/// Runs text through the core pipeline the way `analyze` does, with UTC timestamps and a
/// fixed year, and collects the events.
public struct PipelineHarness {
    public var pipeline: LogPipeline
    public var splitter: LineSplitter
    public private(set) var events: [DeliveryEvent] = []

    public init(rules: RuleSet = .builtin(), year: Int = 2026, month: Int = 12, host: String = "mx1", maxLineLength: Int = 64 * 1024) {
        pipeline = LogPipeline(header: LineHeaderParser(yearHint: year, monthHint: month, zone: FixedOffsetZone(), defaultHost: host), rules: rules)
        splitter = LineSplitter(maxLineLength: maxLineLength)
    }

    /// Feeds bytes (any chunk).
    public mutating func feed(_ bytes: [UInt8]) {
        var collected: [DeliveryEvent] = []
        bytes.withUnsafeBytes { raw in
            splitter.feed(raw) { line in pipeline.process(line: line, emit: { collected.append($0) }) }
        }
        events.append(contentsOf: collected)
    }

    public mutating func finish() {
        var collected: [DeliveryEvent] = []
        splitter.finish { line in pipeline.process(line: line, emit: { collected.append($0) }) }
        events.append(contentsOf: collected)
    }

    /// The events of one line (no newline needed).
    public mutating func events(ofLine line: String) -> [DeliveryEvent] {
        var out: [DeliveryEvent] = []
        var copy = line
        copy.withUTF8 { b in pipeline.process(line: b, emit: { out.append($0) }) }
        return out
    }

    /// All events of a whole text.
    public static func run(_ bytes: [UInt8], rules: RuleSet = .builtin()) -> [DeliveryEvent] {
        var h = PipelineHarness(rules: rules)
        h.feed(bytes)
        h.finish()
        return h.events
    }
}

extension DeliveryEvent {
    /// The `--events` JSON line of this event.
    public var jsonLine: String {
        let w = JSONWriter()
        writeJSON(to: w)
        return String(decoding: w.bytes, as: UTF8.self)
    }
}
