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
                t = Codec.time(e)
                return t == nil
            }
            return t
        }

        public mutating func append(_ l: Line) {
            append(size: Codec.size(l)) { Codec.write(l, into: $0) }
        }

        /// The line of a record (as `MessageTrace.line` makes it), with the record's attempt;
        /// copied from the record's bytes, no string made when its text is ASCII.
        public mutating func append(_ r: LogRecord, event e: DeliveryEvent?) {
            guard let (mta, body, idEnd) = MessageTrace.idBytes(r) else { return }
            let rest = Bytes(rebasing: body[min(body.count, idEnd + (mta == .postfix ? 2 : 1))...])
            // The rest and the reply as `MessageTrace.line` and `Attempt` cut them: an ASCII
            // rest within `restLimit` is its bytes, a reply of at most 500 bytes is whole.
            // Other lines (few) go the way of strings.
            guard rest.count <= Line.restLimit, Codec.isASCII(rest), (e?.text.utf8.count ?? 0) <= 500 else {
                if let l = MessageTrace.line(r, event: e) { append(l) }
                return
            }
            let id = Bytes(rebasing: body[..<idEnd])
            var flags: UInt8 = r.time != nil ? Codec.hasTime : 0
            if mta == .exim { flags |= Codec.exim }
            var size = 1 + (r.time != nil ? 8 : 0) + 12 + r.host.count + id.count + rest.count
            var recipient: String?, relay: String?, dsn: String?, text: String?
            if let e {
                flags |= Codec.hasAttempt
                size += 2
                recipient = e.recipient
                relay = e.relay
                dsn = e.dsn
                text = e.text.isEmpty ? nil : e.text
                if let v = recipient { flags |= Codec.hasRecipient; size += 4 + v.utf8.count }
                if let v = relay { flags |= Codec.hasRelay; size += 4 + v.utf8.count }
                if let v = dsn { flags |= Codec.hasDSN; size += 4 + v.utf8.count }
                if let v = text { flags |= Codec.hasText; size += 4 + v.utf8.count }
            }
            append(size: size) { raw in
                var out = Codec.Out(raw)
                out.byte(flags)
                if let t = r.time { out.int64(t) }
                if let e {
                    out.byte(Codec.statusIndex(e.status))
                    out.byte(e.status == .sent ? Codec.noCause : Codec.causeIndex(e.cause))
                }
                out.field(r.host); out.field(id); out.field(rest)
                if let v = recipient { out.field(v) }
                if let v = relay { out.field(v) }
                if let v = dsn { out.field(v) }
                if let v = text { out.field(v) }
            }
        }

        /// Makes room for an entry of `size` payload bytes and lets `write` fill it.
        private mutating func append(size: Int, _ write: (UnsafeMutableRawBufferPointer) -> Void) {
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
                write(UnsafeMutableRawBufferPointer(rebasing: raw[(at + 4)..<(at + w)]))
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
                var spans = [(head, end ?? tail)]
                if end != nil { spans.append((0, tail)) }
                for (from, to) in spans {
                    var o = from
                    while o < to {
                        let n = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: UInt32.self)))
                        guard body(UnsafeRawBufferPointer(rebasing: raw[(o + 4)..<(o + 4 + n)])) else { return }
                        o += 4 + n
                    }
                }
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
                let (id, rest) = Codec.idAndRest(e)
                if finder.mayTake(id: id, rest: rest) { finder.take(Codec.line(e)) }
                return true
            }
            guard !finder.matched.isEmpty else { return [] }
            var collector = Collector(finder)
            forEachEntry { e in
                if collector.mayTake(id: Codec.idAndRest(e).id) { collector.take(Codec.line(e)) }
                return true
            }
            return collector.result
        }
    }
}

extension MessageTrace.Line {
    /// What the line costs to keep in `Recent`, in bytes.
    public var weight: Int { 4 + MessageTrace.Codec.size(self) }
}

extension MessageTrace {
    /// A line's bytes in `Recent`: a flags byte; the time (8 bytes) when it has one; the
    /// attempt's status and cause (2 bytes) when it has one; then the lengths (4 bytes each)
    /// and bytes of host, id, rest, and of the attempt's recipient, relay, dsn and text
    /// when they are there. The host is kept as the record has it and lower-cased when
    /// read, the rest and the attempt's text cut as `MessageTrace.line` and `Attempt` cut
    /// them.
    enum Codec {
        static let hasTime: UInt8 = 1, exim: UInt8 = 2, hasAttempt: UInt8 = 4
        static let hasRecipient: UInt8 = 8, hasRelay: UInt8 = 16, hasDSN: UInt8 = 32, hasText: UInt8 = 64
        static let noCause: UInt8 = 0xFF
        static let statuses = DeliveryStatus.allCases
        static let causes = Cause.allCases

        /// The size of a line's entry, without the 4 bytes that say it.
        static func size(_ l: Line) -> Int {
            var n = 1 + (l.time != nil ? 8 : 0) + 12 + l.key.host.utf8.count + l.key.id.utf8.count + l.rest.utf8.count
            if let a = l.attempt {
                n += 2
                if let v = a.recipient { n += 4 + v.utf8.count }
                if let v = a.relay { n += 4 + v.utf8.count }
                if let v = a.dsn { n += 4 + v.utf8.count }
                if let v = a.text { n += 4 + v.utf8.count }
            }
            return n
        }

        /// Writes a line's entry, `size(l)` bytes.
        static func write(_ l: Line, into raw: UnsafeMutableRawBufferPointer) {
            var out = Out(raw)
            var flags: UInt8 = l.time != nil ? hasTime : 0
            if l.mta == .exim { flags |= exim }
            if let a = l.attempt {
                flags |= hasAttempt
                if a.recipient != nil { flags |= hasRecipient }
                if a.relay != nil { flags |= hasRelay }
                if a.dsn != nil { flags |= hasDSN }
                if a.text != nil { flags |= hasText }
            }
            out.byte(flags)
            if let t = l.time { out.int64(t) }
            if let a = l.attempt { out.byte(statusIndex(a.status)); out.byte(causeIndex(a.cause)) }
            out.field(l.key.host); out.field(l.key.id); out.field(l.rest)
            if let a = l.attempt {
                if let v = a.recipient { out.field(v) }
                if let v = a.relay { out.field(v) }
                if let v = a.dsn { out.field(v) }
                if let v = a.text { out.field(v) }
            }
        }

        static func statusIndex(_ s: DeliveryStatus) -> UInt8 { UInt8(statuses.firstIndex(of: s)!) }
        static func causeIndex(_ c: Cause?) -> UInt8 { c.map { UInt8(causes.firstIndex(of: $0)!) } ?? noCause }

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

        static func time(_ e: UnsafeRawBufferPointer) -> Int64? {
            e[0] & hasTime != 0 ? Int64(littleEndian: e.loadUnaligned(fromByteOffset: 1, as: Int64.self)) : nil
        }

        /// The id's and the rest's bytes of an entry, as kept (the rest as `Line.rest`).
        static func idAndRest(_ e: UnsafeRawBufferPointer) -> (id: Bytes, rest: Bytes) {
            var o = 1 + (e[0] & hasTime != 0 ? 8 : 0) + (e[0] & hasAttempt != 0 ? 2 : 0)
            let bytes = e.assumingMemoryBound(to: UInt8.self)
            func field() -> Bytes {
                let n = Int(UInt32(littleEndian: e.loadUnaligned(fromByteOffset: o, as: UInt32.self)))
                defer { o += 4 + n }
                return Bytes(rebasing: bytes[(o + 4)..<(o + 4 + n)])
            }
            _ = field()
            let id = field()
            return (id, field())
        }

        static func line(_ e: UnsafeRawBufferPointer) -> Line {
            let flags = e[0]
            var o = 1
            let time = time(e)
            if time != nil { o += 8 }
            var status = DeliveryStatus.sent, cause: Cause?
            if flags & hasAttempt != 0 {
                status = statuses[Int(e[o])]
                cause = e[o + 1] == noCause ? nil : causes[Int(e[o + 1])]
                o += 2
            }
            func field() -> Bytes {
                let n = Int(UInt32(littleEndian: e.loadUnaligned(fromByteOffset: o, as: UInt32.self)))
                let b = Bytes(rebasing: e.assumingMemoryBound(to: UInt8.self)[(o + 4)..<(o + 4 + n)])
                o += 4 + n
                return b
            }
            let host = field().lowercasedString, id = field().string, rest = field().string
            var attempt: Attempt?
            if flags & hasAttempt != 0 {
                var a = Attempt(status: status, cause: cause)
                if flags & hasRecipient != 0 { a.recipient = field().string }
                if flags & hasRelay != 0 { a.relay = field().string }
                if flags & hasDSN != 0 { a.dsn = field().string }
                if flags & hasText != 0 { a.text = field().string }
                attempt = a
            }
            return Line(time: time, mta: flags & exim != 0 ? .exim : .postfix,
                        key: MessageKey(host: host, id: id), rest: rest, attempt: attempt)
        }
    }
}
