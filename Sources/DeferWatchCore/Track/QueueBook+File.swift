/// The deferred queue as a checkpoint keeps it: a file of its own beside the checkpoint,
/// written in pieces as the book is walked. A million messages in flight are some 60 MB of
/// file and no more than a piece in memory at a time; as JSON arrays inside the checkpoint
/// they were ten million values, whose encoding took seconds and hundreds of MB at every
/// checkpoint (issue 16's measurement).
///
/// Layout (little-endian): "DWQ1"; the names (u32 count, then u32 length + UTF-8 each); the
/// causes used (u8 count, then u8 length + name each: by name, so a new version's order of
/// causes does not matter); u32 message count, then per message: u8 length + queue id, i32
/// host name, u8 MTA (0 Postfix, 1 Exim), i64 arrival, i64 last attempt, u8 counted at risk,
/// u32 recipient count, then per recipient (oldest first): i64 key, i32 domain, i32 relay,
/// i32 provider, u8 cause, i64 last attempt; then i64 dropped, i64 forgotten, i64 now; last,
/// the u64 FNV-1a of every byte before it. Reading checks every length and the sum, and
/// hands the result to `restore(_:)`, which checks what the values mean.
extension QueueBook {
    static let fileMagic: [UInt8] = Array("DWQ1".utf8)

    /// What was written: its size and sum (the checkpoint names them, so a file of another
    /// checkpoint is never taken for this one's).
    public struct FileSummary: Codable, Sendable, Equatable {
        public var bytes: Int
        public var checksum: UInt64
        public init(bytes: Int, checksum: UInt64) {
            self.bytes = bytes
            self.checksum = checksum
        }
    }

    /// Writes the queue to `sink` in pieces of about 64 KiB; nil when `sink` said no.
    public func write(to sink: (UnsafeRawBufferPointer) -> Bool) -> FileSummary? {
        withoutActuallyEscaping(sink) { writeFile(PieceWriter(sink: $0)) }
    }

    private func writeFile(_ start: PieceWriter) -> FileSummary? {
        var w = start
        w.bytes(Self.fileMagic)
        w.u32(UInt32(truncatingIfNeeded: names.names.count))
        for n in names.names { w.string32(n) }
        var causeIndex: [Cause: UInt8] = [:]
        var causeNames: [String] = []
        for c in Cause.allCases {
            causeIndex[c] = UInt8(truncatingIfNeeded: causeNames.count)
            causeNames.append(c.rawValue)
        }
        w.u8(UInt8(truncatingIfNeeded: causeNames.count))
        for c in causeNames { w.string8(c) }
        let live = index.values.sorted()
        w.u32(UInt32(truncatingIfNeeded: live.count))
        var chain: [Int32] = []
        for m in live {
            let msg = messages[Int(m)]
            w.string8(msg.queueID)
            w.i32(msg.host)
            w.u8(msg.mta == .exim ? 1 : 0)
            w.i64(msg.arrival)
            w.i64(lastAttempt(of: Int(m)))
            w.u8(msg.atRiskCounted ? 1 : 0)
            chain.removeAll(keepingCapacity: true)
            var i = msg.head
            while i >= 0 {
                chain.append(i)
                i = recipients[Int(i)].next
            }
            w.u32(UInt32(truncatingIfNeeded: chain.count))
            // Oldest first, so a restore rebuilds the same order.
            for j in chain.reversed() {
                let r = recipients[Int(j)]
                w.i64(Int64(r.key))
                w.i32(r.domain)
                w.i32(r.relay)
                w.i32(r.provider)
                w.u8(causeIndex[r.cause] ?? 0)
                w.i64(r.lastAttempt)
            }
            if w.failed { return nil }
        }
        w.i64(Int64(dropped))
        w.i64(Int64(forgotten))
        w.i64(now)
        return w.finish()
    }

    /// The queue of a file `write(to:)` wrote, or why it cannot be one.
    public static func readFile(_ raw: UnsafeRawBufferPointer, expecting summary: FileSummary) -> Result<Snapshot, QueueFileError> {
        guard raw.count == summary.bytes else { return .failure(QueueFileError("is \(raw.count) bytes, the checkpoint says \(summary.bytes)")) }
        guard raw.count >= 4 + 8 else { return .failure(QueueFileError("is too short")) }
        let body = UnsafeRawBufferPointer(rebasing: raw[0..<(raw.count - 8)])
        let sum = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: raw.count - 8, as: UInt64.self))
        guard sum == PieceWriter.fnv(body, FNV.offset), sum == summary.checksum else {
            return .failure(QueueFileError("does not have the checksum the checkpoint says"))
        }
        var r = ByteReader(body)
        guard r.bytes(4).map(Array.init) == fileMagic else { return .failure(QueueFileError("is not a deferwatch queue file")) }
        var s = Snapshot(names: [], queueIDs: [], hosts: [], mtas: [], arrivals: [], lastAttempts: [], atRiskCounted: [],
                         recipientMessages: [], recipientKeys: [], recipientNames: [], causes: [], recipientAttempts: [],
                         dropped: 0, forgotten: 0, now: 0)
        func bad(_ what: String) -> Result<Snapshot, QueueFileError> { .failure(QueueFileError("is damaged (\(what))")) }
        guard let nameCount = r.u32(), Int(nameCount) <= r.remaining / 4 else { return bad("names") }
        s.names.reserveCapacity(Int(nameCount))
        for _ in 0..<nameCount {
            guard let n = r.string32() else { return bad("a name") }
            s.names.append(n)
        }
        guard let causeCount = r.u8() else { return bad("causes") }
        var causes: [Cause?] = []
        for _ in 0..<causeCount {
            guard let n = r.string8() else { return bad("a cause") }
            causes.append(Cause(rawValue: n))
        }
        guard let messageCount = r.u32(), Int(messageCount) <= r.remaining / 27 else { return bad("messages") }
        for m in 0..<Int(messageCount) {
            guard let id = r.string8(), let host = r.i32(), let mta = r.u8(), mta <= 1, let arrival = r.i64(),
                  let last = r.i64(), let risk = r.u8(), risk <= 1, let n = r.u32(), Int(n) <= r.remaining / 29 else {
                return bad("message \(m)")
            }
            s.queueIDs.append(id)
            s.hosts.append(host)
            s.mtas.append(mta == 1 ? .exim : .postfix)
            s.arrivals.append(arrival)
            s.lastAttempts.append(last)
            s.atRiskCounted.append(risk == 1)
            for _ in 0..<n {
                guard let key = r.i64(), let d = r.i32(), let rl = r.i32(), let p = r.i32(), let c = r.u8(),
                      Int(c) < causes.count, let cause = causes[Int(c)], let at = r.i64() else {
                    return bad("a recipient of message \(m)")
                }
                s.recipientMessages.append(Int32(truncatingIfNeeded: m))
                s.recipientKeys.append(Int(truncatingIfNeeded: key))
                s.recipientNames += [d, rl, p]
                s.causes.append(cause)
                s.recipientAttempts.append(at)
            }
        }
        guard let dropped = r.i64(), let forgotten = r.i64(), let now = r.i64(), r.remaining == 0 else { return bad("the end") }
        s.dropped = Int(truncatingIfNeeded: dropped)
        s.forgotten = Int(truncatingIfNeeded: forgotten)
        s.now = now
        return .success(s)
    }
}

public struct QueueFileError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}

enum FNV {
    static let offset: UInt64 = 0xcbf2_9ce4_8422_2325
    static let prime: UInt64 = 0x100_0000_01b3
}

/// Bytes into pieces for a sink, with the running FNV-1a of all of them.
struct PieceWriter {
    let sink: (UnsafeRawBufferPointer) -> Bool
    var buffer: [UInt8] = []
    var sum = FNV.offset
    var total = 0
    var failed = false
    static let piece = 65_536

    init(sink: @escaping (UnsafeRawBufferPointer) -> Bool) {
        self.sink = sink
        buffer.reserveCapacity(Self.piece + 1024)
    }

    static func fnv(_ raw: UnsafeRawBufferPointer, _ start: UInt64) -> UInt64 {
        var h = start
        for b in raw { h = (h ^ UInt64(b)) &* FNV.prime }
        return h
    }

    mutating func flush() {
        guard !buffer.isEmpty, !failed else { return }
        buffer.withUnsafeBytes { raw in
            sum = Self.fnv(raw, sum)
            total += raw.count
            if !sink(raw) { failed = true }
        }
        buffer.removeAll(keepingCapacity: true)
    }

    mutating func bytes<S: Sequence>(_ b: S) where S.Element == UInt8 {
        buffer.append(contentsOf: b)
        if buffer.count >= Self.piece { flush() }
    }

    mutating func fixed<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { bytes($0) } }
    mutating func u8(_ v: UInt8) { fixed(v) }
    mutating func u32(_ v: UInt32) { fixed(v) }
    mutating func i32(_ v: Int32) { fixed(v) }
    mutating func i64(_ v: Int64) { fixed(v) }
    mutating func string32(_ s: String) {
        u32(UInt32(truncatingIfNeeded: s.utf8.count))
        bytes(s.utf8)
    }
    /// At most 255 bytes (queue ids and cause names are far shorter; longer is cut).
    mutating func string8(_ s: String) {
        let u = Array(s.utf8.prefix(255))
        u8(UInt8(u.count))
        bytes(u)
    }

    /// The last piece and the sum after it: the file's size and sum, or nil if a piece failed.
    mutating func finish() -> QueueBook.FileSummary? {
        flush()
        guard !failed else { return nil }
        let s = sum
        withUnsafeBytes(of: s.littleEndian) { raw in if !sink(raw) { failed = true } }
        return failed ? nil : QueueBook.FileSummary(bytes: total + 8, checksum: s)
    }
}

/// Reads little-endian values off bytes, nil past the end.
struct ByteReader {
    let raw: UnsafeRawBufferPointer
    var at = 0
    init(_ raw: UnsafeRawBufferPointer) { self.raw = raw }
    var remaining: Int { raw.count - at }

    mutating func bytes(_ n: Int) -> UnsafeRawBufferPointer? {
        guard n >= 0, remaining >= n else { return nil }
        defer { at += n }
        return UnsafeRawBufferPointer(rebasing: raw[at..<(at + n)])
    }

    mutating func fixed<T: FixedWidthInteger>(_: T.Type) -> T? {
        guard let b = bytes(MemoryLayout<T>.size) else { return nil }
        return T(littleEndian: b.loadUnaligned(as: T.self))
    }
    mutating func u8() -> UInt8? { fixed(UInt8.self) }
    mutating func u32() -> UInt32? { fixed(UInt32.self) }
    mutating func i32() -> Int32? { fixed(Int32.self) }
    mutating func i64() -> Int64? { fixed(Int64.self) }
    mutating func string32() -> String? {
        guard let n = u32(), let b = bytes(Int(n)) else { return nil }
        return String(decoding: b, as: UTF8.self)
    }
    mutating func string8() -> String? {
        guard let n = u8(), let b = bytes(Int(n)) else { return nil }
        return String(decoding: b, as: UTF8.self)
    }
}
