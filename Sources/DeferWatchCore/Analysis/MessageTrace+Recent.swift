extension MessageTrace {
    /// The daemon's recent memory of mail lines, for `deferwatch status trace`: every
    /// Postfix and Exim line that names a message, with its attempt as the daemon classified
    /// it, newest kept, within a budget of bytes (`[status] trace_bytes`); the oldest go first.
    ///
    /// The lines are kept as bytes, one after another in a ring of at most `budget` bytes
    /// (it grows to that as lines come): the pipeline copies a line's bytes in, and nothing
    /// is allocated or freed per line; a query decodes what it reads. So the budget is what
    /// the memory costs, and a forgotten line is an offset moved. Each entry is its size
    /// (4 bytes, little-endian), then the encoding of `Codec`.
    public struct Recent: Sendable {
        public let budget: Int
        private var ring: [UInt8] = []
        /// The oldest entry's offset, and where the next one goes.
        private var head = 0
        private var tail = 0
        /// While the newest entries have wrapped to the ring's start: where the older ones end.
        private var end: Int? = nil
        public private(set) var count = 0
        /// Lines that were forgotten for room (or refused, larger than the budget), and what
        /// the kept ones weigh.
        public private(set) var forgotten = 0
        public private(set) var bytes = 0

        public init(budget: Int) { self.budget = max(0, budget) }

        /// The oldest line's time still kept.
        public var oldestTime: Int64? {
            var t: Int64?
            forEachEntry { e in
                t = Codec.Reader(e).time
                return t == nil
            }
            return t
        }

        public mutating func append(_ l: Line) {
            Codec.withEntry(l) { append($0) }
        }

        /// The line of a record (as `MessageTrace.line` makes it), with the record's attempt;
        /// copied from the record's bytes, no string made when its text is ASCII.
        public mutating func append(_ r: LogRecord, event e: DeliveryEvent?) {
            guard let (mta, id, rest) = MessageTrace.idBytes(r) else { return }
            // The rest and the reply as `MessageTrace.line` and `Attempt` cut them: an ASCII
            // rest within `restLimit` is its bytes, a reply of at most 500 bytes is whole.
            // Other lines (few) go the way of strings.
            guard rest.count <= Line.restLimit, Codec.isASCII(rest), (e?.text.utf8.count ?? 0) <= 500 else {
                if let l = MessageTrace.line(r, event: e) { append(l) }
                return
            }
            append(Codec.Entry(time: r.time, mta: mta, host: r.host, id: id, rest: rest, attempt: e.map {
                ($0.status, $0.status == .sent ? nil : $0.cause, $0.recipient, $0.relay, $0.dsn, $0.text.isEmpty ? nil : $0.text)
            }))
        }

        /// Makes room for an entry and writes it.
        private mutating func append(_ entry: Codec.Entry) {
            let size = entry.size
            let w = 4 + size
            guard w <= budget, size <= Int(UInt32.max) else { forgotten += 1; return }
            while true {
                if count == 0 { head = 0; tail = 0; end = nil }
                if let e = end {
                    // Wrapped: the new entries go between the ring's start and the oldest.
                    if tail + w <= head { break }
                    if head >= e { end = nil; head = 0; continue }
                    dropOldest()
                } else if tail + w <= budget {
                    break
                } else {
                    end = tail
                    tail = 0
                }
            }
            if ring.count < tail + w {
                if ring.capacity < tail + w {
                    ring.reserveCapacity(min(budget, max(tail + w, 2 * ring.capacity, 4_096)))
                }
                ring.append(contentsOf: repeatElement(0, count: tail + w - ring.count))
            }
            let at = tail
            ring.withUnsafeMutableBytes { raw in
                raw.storeBytes(of: UInt32(size).littleEndian, toByteOffset: at, as: UInt32.self)
                entry.write(into: UnsafeMutableRawBufferPointer(rebasing: raw[(at + 4)..<(at + w)]))
            }
            tail += w
            count += 1
            bytes += w
        }

        private mutating func dropOldest() {
            let w = 4 + entrySize(at: head)
            head += w
            bytes -= w
            count -= 1
            forgotten += 1
        }

        private func entrySize(at o: Int) -> Int {
            ring.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: o, as: UInt32.self))) }
        }

        /// Calls `body` with each entry's payload, oldest first, while it returns true.
        private func forEachEntry(_ body: (UnsafeRawBufferPointer) -> Bool) {
            guard count > 0 else { return }
            ring.withUnsafeBytes { raw in
                /// The entries from `o` to `to`; false when `body` said stop.
                func walk(_ from: Int, _ to: Int) -> Bool {
                    var o = from
                    while o < to {
                        let n = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: UInt32.self)))
                        guard body(UnsafeRawBufferPointer(rebasing: raw[(o + 4)..<(o + 4 + n)])) else { return false }
                        o += 4 + n
                    }
                    return true
                }
                // The older entries, then those that wrapped to the start.
                if walk(head, end ?? tail), end != nil { _ = walk(0, tail) }
            }
        }

        /// The lines kept, oldest first.
        public var lines: [Line] {
            var out: [Line] = []
            out.reserveCapacity(count)
            forEachEntry { out.append(Codec.line($0)); return true }
            return out
        }

        /// Both passes of `trace` over the lines kept: the messages the query names (and the
        /// bounces they created), each with every line of it. Only the lines a pass may take
        /// are decoded.
        public func trace(_ query: Query, limit: Int = 1_000) -> [Trace] {
            var finder = Finder(query: query)
            finder.limit = limit
            forEachEntry { e in
                var r = Codec.Reader(e)
                _ = r.field()
                let id = r.field()
                if finder.mayTake(id: id, rest: r.field()) { finder.take(Codec.line(e)) }
                return true
            }
            guard !finder.matched.isEmpty else { return [] }
            var collector = Collector(finder)
            forEachEntry { e in
                var r = Codec.Reader(e)
                _ = r.field()
                if collector.mayTake(id: r.field()) { collector.take(Codec.line(e)) }
                return true
            }
            return collector.result
        }
    }
}

extension MessageTrace.Line {
    /// What the line costs to keep in `Recent`, in bytes.
    public var weight: Int { MessageTrace.Codec.withEntry(self) { 4 + $0.size } }
}

extension MessageTrace {
    /// A line's bytes in `Recent`: a flags byte; the time (8 bytes) when it has one; the
    /// lengths (4 bytes each) and bytes of host, id and rest; then, when it has an attempt,
    /// its status and cause (a byte each) and the lengths and bytes of those of its
    /// recipient, relay, dsn and text it has. The host is kept as the record has it and
    /// lower-cased when read, the rest and the attempt's text cut as `MessageTrace.line`
    /// and `Attempt` cut them.
    enum Codec {
        static let hasTime: UInt8 = 1, exim: UInt8 = 2, hasAttempt: UInt8 = 4
        static let hasRecipient: UInt8 = 8, hasRelay: UInt8 = 16, hasDSN: UInt8 = 32, hasText: UInt8 = 64
        static let noCause: UInt8 = 0xFF
        static let statuses = DeliveryStatus.allCases
        static let causes = Cause.allCases

        /// One entry's parts; host, id and rest borrowed for the call.
        struct Entry {
            var time: Int64?
            var mta: MTA
            var host: Bytes, id: Bytes, rest: Bytes
            var attempt: (status: DeliveryStatus, cause: Cause?, recipient: String?, relay: String?, dsn: String?, text: String?)?

            var flags: UInt8 {
                var f: UInt8 = time != nil ? hasTime : 0
                if mta == .exim { f |= exim }
                if let a = attempt {
                    f |= hasAttempt
                    if a.recipient != nil { f |= hasRecipient }
                    if a.relay != nil { f |= hasRelay }
                    if a.dsn != nil { f |= hasDSN }
                    if a.text != nil { f |= hasText }
                }
                return f
            }

            /// The entry's size, without the 4 bytes that say it.
            var size: Int {
                var n = 1 + (time != nil ? 8 : 0) + 12 + host.count + id.count + rest.count
                if let a = attempt {
                    n += 2
                    if let v = a.recipient { n += 4 + v.utf8.count }
                    if let v = a.relay { n += 4 + v.utf8.count }
                    if let v = a.dsn { n += 4 + v.utf8.count }
                    if let v = a.text { n += 4 + v.utf8.count }
                }
                return n
            }

            /// Writes the entry, `size` bytes.
            func write(into raw: UnsafeMutableRawBufferPointer) {
                var out = Out(raw)
                out.byte(flags)
                if let t = time { out.int64(t) }
                out.field(host); out.field(id); out.field(rest)
                guard let a = attempt else { return }
                out.byte(UInt8(statuses.firstIndex(of: a.status)!))
                out.byte(a.cause.map { UInt8(causes.firstIndex(of: $0)!) } ?? noCause)
                if let v = a.recipient { out.field(v) }
                if let v = a.relay { out.field(v) }
                if let v = a.dsn { out.field(v) }
                if let v = a.text { out.field(v) }
            }
        }

        /// `body` with the entry of a line, its strings' bytes borrowed.
        static func withEntry<T>(_ l: Line, _ body: (Entry) -> T) -> T {
            var host = l.key.host, id = l.key.id, rest = l.rest
            return host.withUTF8 { h in
                id.withUTF8 { i in
                    rest.withUTF8 { r in
                        body(Entry(time: l.time, mta: l.mta, host: h, id: i, rest: r,
                                   attempt: l.attempt.map { ($0.status, $0.cause, $0.recipient, $0.relay, $0.dsn, $0.text) }))
                    }
                }
            }
        }

        /// Writes an entry's parts one after another.
        struct Out {
            let p: UnsafeMutableRawBufferPointer
            var o = 0
            init(_ p: UnsafeMutableRawBufferPointer) { self.p = p }
            mutating func byte(_ b: UInt8) { p[o] = b; o += 1 }
            mutating func int64(_ v: Int64) { p.storeBytes(of: v.littleEndian, toByteOffset: o, as: Int64.self); o += 8 }
            mutating func field(_ b: Bytes) {
                p.storeBytes(of: UInt32(b.count).littleEndian, toByteOffset: o, as: UInt32.self)
                o += 4
                UnsafeMutableRawBufferPointer(rebasing: p[o..<(o + b.count)]).copyMemory(from: UnsafeRawBufferPointer(b))
                o += b.count
            }
            mutating func field(_ s: String) {
                var s = s
                s.withUTF8 { field($0) }
            }
        }

        /// Whether every byte is ASCII, eight at a time.
        static func isASCII(_ b: Bytes) -> Bool {
            guard let base = b.baseAddress else { return true }
            let raw = UnsafeRawPointer(base)
            var i = 0, acc: UInt64 = 0
            while i + 8 <= b.count { acc |= raw.loadUnaligned(fromByteOffset: i, as: UInt64.self); i += 8 }
            while i < b.count { acc |= UInt64(b[i]); i += 1 }
            return acc & 0x8080_8080_8080_8080 == 0
        }

        /// Reads an entry: its header at once, then its fields in order.
        struct Reader {
            let e: UnsafeRawBufferPointer
            let flags: UInt8
            let time: Int64?
            var o: Int

            init(_ e: UnsafeRawBufferPointer) {
                self.e = e
                flags = e[0]
                time = flags & hasTime != 0 ? Int64(littleEndian: e.loadUnaligned(fromByteOffset: 1, as: Int64.self)) : nil
                o = time != nil ? 9 : 1
            }

            mutating func byte() -> UInt8 {
                defer { o += 1 }
                return e[o]
            }

            mutating func field() -> Bytes {
                let n = Int(UInt32(littleEndian: e.loadUnaligned(fromByteOffset: o, as: UInt32.self)))
                defer { o += 4 + n }
                return Bytes(rebasing: e.assumingMemoryBound(to: UInt8.self)[(o + 4)..<(o + 4 + n)])
            }
        }

        static func line(_ e: UnsafeRawBufferPointer) -> Line {
            var r = Reader(e)
            let host = r.field().lowercasedString, id = r.field().string, rest = r.field().string
            var attempt: Attempt?
            if r.flags & hasAttempt != 0 {
                let status = statuses[Int(r.byte())], c = r.byte()
                var a = Attempt(status: status, cause: c == noCause ? nil : causes[Int(c)])
                if r.flags & hasRecipient != 0 { a.recipient = r.field().string }
                if r.flags & hasRelay != 0 { a.relay = r.field().string }
                if r.flags & hasDSN != 0 { a.dsn = r.field().string }
                if r.flags & hasText != 0 { a.text = r.field().string }
                attempt = a
            }
            return Line(time: r.time, mta: r.flags & exim != 0 ? .exim : .postfix,
                        key: MessageKey(host: host, id: id), rest: rest, attempt: attempt)
        }
    }
}
