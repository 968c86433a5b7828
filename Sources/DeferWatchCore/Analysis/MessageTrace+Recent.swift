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
            let w = Codec.Writer(l)
            append(size: w.size) { w.write(into: $0) }
        }

        /// The line of a record (as `MessageTrace.line` makes it), with the record's attempt;
        /// copied from the record's bytes, no string made when its text is ASCII.
        public mutating func append(_ r: LogRecord, event: DeliveryEvent?) {
            guard let w = Codec.Writer(r, event: event) else { return }
            append(size: w.size) { w.write(into: $0) }
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
    public var weight: Int { 4 + MessageTrace.Codec.Writer(self).size }
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

        /// One field's bytes: a record's (borrowed for the call) or a string's.
        enum Field {
            case bytes(Bytes)
            case string(String)
            var count: Int {
                switch self {
                case .bytes(let b): b.count
                case .string(let s): s.utf8.count
                }
            }
        }

        struct Writer {
            var flags: UInt8 = 0
            var time: Int64 = 0
            var status: UInt8 = 0, cause: UInt8 = noCause
            var host: Field, id: Field, rest: Field
            var recipient: Field?, relay: Field?, dsn: Field?, text: Field?
            var size = 0

            init(_ l: Line) {
                host = .string(l.key.host)
                id = .string(l.key.id)
                rest = .string(l.rest)
                if let t = l.time { flags |= hasTime; time = t }
                if l.mta == .exim { flags |= exim }
                if let a = l.attempt { add(a.status, a.cause, a.recipient, a.relay, a.dsn, a.text) }
                measure()
            }

            init?(_ r: LogRecord, event: DeliveryEvent?) {
                guard let (mta, body, idEnd) = MessageTrace.idBytes(r) else { return nil }
                let restBytes = Bytes(rebasing: body[min(body.count, idEnd + (mta == .postfix ? 2 : 1))...])
                host = .bytes(r.host)
                id = .bytes(Bytes(rebasing: body[..<idEnd]))
                // The rest as `MessageTrace.line` keeps it: its string cut at `restLimit`
                // bytes. All ASCII within the limit, that is its bytes.
                if restBytes.count <= Line.restLimit && Codec.isASCII(restBytes) {
                    rest = .bytes(restBytes)
                } else {
                    let s = restBytes.string
                    rest = .string(s.utf8.count > Line.restLimit ? String(decoding: s.utf8.prefix(Line.restLimit), as: UTF8.self) : s)
                }
                if let t = r.time { flags |= hasTime; time = t }
                if mta == .exim { flags |= exim }
                if let e = event {
                    // As `Attempt.init`: the text at most 500 characters, which is all of it
                    // when it has at most 500 bytes.
                    let text: String? = e.text.isEmpty ? nil : e.text.utf8.count <= 500 ? e.text : String(e.text.prefix(500))
                    add(e.status, e.status == .sent ? nil : e.cause, e.recipient, e.relay, e.dsn, text)
                }
                measure()
            }

            private mutating func add(_ s: DeliveryStatus, _ c: Cause?, _ recipient: String?, _ relay: String?, _ dsn: String?, _ text: String?) {
                flags |= hasAttempt
                status = UInt8(statuses.firstIndex(of: s)!)
                cause = c.map { UInt8(causes.firstIndex(of: $0)!) } ?? noCause
                if let recipient { flags |= hasRecipient; self.recipient = .string(recipient) }
                if let relay { flags |= hasRelay; self.relay = .string(relay) }
                if let dsn { flags |= hasDSN; self.dsn = .string(dsn) }
                if let text { flags |= hasText; self.text = .string(text) }
            }

            private mutating func measure() {
                size = 1 + (flags & hasTime != 0 ? 8 : 0) + (flags & hasAttempt != 0 ? 2 : 0)
                size += 12 + host.count + id.count + rest.count
                func add(_ f: Field?) { if let f { size += 4 + f.count } }
                add(recipient); add(relay); add(dsn); add(text)
            }

            /// Writes the entry into `out`, exactly `size` bytes.
            func write(into out: UnsafeMutableRawBufferPointer) {
                var o = 0
                out[o] = flags; o += 1
                if flags & hasTime != 0 { out.storeBytes(of: time.littleEndian, toByteOffset: o, as: Int64.self); o += 8 }
                if flags & hasAttempt != 0 { out[o] = status; out[o + 1] = cause; o += 2 }
                func put(_ f: Field?) {
                    guard let f else { return }
                    let n = f.count
                    out.storeBytes(of: UInt32(n).littleEndian, toByteOffset: o, as: UInt32.self)
                    o += 4
                    let dest = UnsafeMutableRawBufferPointer(rebasing: out[o..<(o + n)])
                    switch f {
                    case .bytes(let b): dest.copyMemory(from: UnsafeRawBufferPointer(b))
                    case .string(var s): s.withUTF8 { dest.copyMemory(from: UnsafeRawBufferPointer($0)) }
                    }
                    o += n
                }
                put(host); put(id); put(rest)
                put(recipient); put(relay); put(dsn); put(text)
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
