import DeferWatchCore

extension ParallelReader {
    /// What one thread made of a segment (or of a piece of a stream).
    struct Batch {
        var events: [DeliveryEvent] = {
            var a: [DeliveryEvent] = []
            a.reserveCapacity(512)
            return a
        }()
        var counters = LineCounters()
        var samples: [String] = []
        var oversized = 0
        var bytes: Int64 = 0
        var error: InputError?
        /// The thread that made it: the consumer hands it back there to be freed, so memory
        /// is released by the thread that allocated it (far cheaper for malloc).
        var worker = 0
        /// With `renderLines`: the events' JSON lines, one after the other, and where each
        /// ends in `rendered` (-1: not rendered, its cause is still to be inherited).
        var rendered: [UInt8] = []
        var lineEnds: [Int32] = []
        /// Beside each event: what settling must still do with it, and (with `hash`) the
        /// hashes the consumer keys it under, nil for an event settling may change.
        var settling: [EventClassifier.Settling] = []
        var hashes: [DestinationHashes?] = []
        /// The message records read (`collectMessages`), each with the number of events
        /// before it.
        var messages: [(at: Int, record: MessageRecord)] = []

        /// The message records the pipeline read on the line just processed.
        @inline(__always)
        mutating func takeMessages(_ p: inout LogPipeline) {
            guard !p.messages.isEmpty else { return }
            for r in p.messages { messages.append((events.count, r)) }
            p.messages.removeAll(keepingCapacity: true)
        }

        /// Appends the event by moving it in (no copy, so no retain and release of each of
        /// its strings), leaving an empty event behind.
        mutating func take(_ e: inout DeliveryEvent, _ next: EventClassifier.Settling, _ writer: JSONWriter?, hash: Bool) {
            let final = next != .inherit
            settling.append(next)
            if hash { hashes.append(final ? DestinationHashes(of: e) : nil) }
            if let writer {
                if !final {
                    lineEnds.append(-1)
                } else {
                    writer.reset()
                    e.writeJSON(to: writer)
                    writer.newline()
                    writer.withBytes { rendered.append(contentsOf: $0) }
                    lineEnds.append(Int32(truncatingIfNeeded: rendered.count))
                }
            }
            withUnsafeMutablePointer(to: &e) { p in
                events.append(p.move())
                p.initialize(to: Self.placeholder)
            }
        }

        private static let placeholder = DeliveryEvent(time: nil, mta: .postfix, host: "", queueID: "", recipient: nil,
                                                       domain: nil, status: .sent)
    }
}
