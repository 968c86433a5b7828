/// What a log line says of a message besides its delivery attempts, for the books that
/// follow messages (SenderBook, QueueBook): who sent it (Postfix qmgr's `QUEUEID:
/// from=<sender>, size=..., nrcpt=N (queue active)`, Exim's `ID <= sender ...` arrival line)
/// or that it left the queue (Postfix qmgr's `QUEUEID: removed`, Exim's `ID Completed`).
/// The sender's domain is lower case; the null sender (bounces) has none and makes no record.
public struct MessageRecord: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case sender(domain: String)
        case removed
    }

    /// The message: its host and queue id, hashed (SenderBook.key).
    public var message: Int
    public var kind: Kind

    public init(message: Int, kind: Kind) {
        self.message = message
        self.kind = kind
    }

    public init(host: String, queueID: String, kind: Kind) {
        self.init(message: SenderBook.key(host: host.utf8, queueID: queueID.utf8), kind: kind)
    }

    /// The sender domain, for a sender record.
    public var senderDomain: String? {
        if case .sender(let d) = kind { return d }
        return nil
    }

    /// The domain of an address (`user@Example.ORG` -> `example.org`), nil for the null
    /// sender, an address without a domain, or one with bytes no domain has.
    static func domain(ofAddress a: Bytes) -> String? {
        guard let at = a.lastIndex(of: UInt8(ascii: "@")), at + 1 < a.count, a.count - at <= 254 else { return nil }
        let d = a.dropFirst(at + 1)
        for b in d {
            let ok = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x2E || b == 0x5F
            guard ok else { return nil }
        }
        return d.lowercasedString
    }
}

extension PostfixParser {
    /// qmgr's `QUEUEID: from=<sender>, size=N, nrcpt=N (queue active)` or `QUEUEID: removed`,
    /// or nil.
    public func messageRecord(_ record: LogRecord, host: String) -> MessageRecord? {
        guard record.program.hasSuffix("/qmgr") else { return nil }
        let m = record.message
        guard let qidEnd = m.index(of: UInt8(ascii: ":")), qidEnd >= 5, qidEnd <= 20, qidEnd + 8 < m.count,
              m[qidEnd + 1] == UInt8(ascii: " ") else { return nil }
        let rest = m.dropFirst(qidEnd + 2)
        if rest.count == 7, rest.equals("removed") {
            return MessageRecord(message: SenderBook.key(host: host.utf8, queueID: m.slice(0, qidEnd)), kind: .removed)
        }
        guard rest.hasPrefix("from=<"), let close = m.index(of: UInt8(ascii: ">"), from: qidEnd + 8),
              m.dropFirst(close).hasPrefix(">, size=") else { return nil }
        guard let domain = MessageRecord.domain(ofAddress: m.slice(qidEnd + 8, close)) else { return nil }
        return MessageRecord(message: SenderBook.key(host: host.utf8, queueID: m.slice(0, qidEnd)), kind: .sender(domain: domain))
    }
}

extension EximParser {
    /// `ID <= sender H=... P=... S=... id=...` or `ID Completed`, or nil.
    public func messageRecord(_ record: LogRecord, host: String) -> MessageRecord? {
        let m = Self.body(record.message)
        guard let idEnd = m.index(of: UInt8(ascii: " ")), idEnd >= 16, idEnd <= 23, m[6] == UInt8(ascii: "-"),
              idEnd + 4 < m.count else { return nil }
        if m.dropFirst(idEnd + 1).hasPrefix("Completed") {
            return MessageRecord(message: SenderBook.key(host: host.utf8, queueID: m.slice(0, idEnd)), kind: .removed)
        }
        guard m[idEnd + 1] == UInt8(ascii: "<"), m[idEnd + 2] == UInt8(ascii: "="),
              m[idEnd + 3] == UInt8(ascii: " ") else { return nil }
        let rest = m.dropFirst(idEnd + 4)
        let end = rest.index(of: UInt8(ascii: " ")) ?? rest.count
        guard let domain = MessageRecord.domain(ofAddress: rest.slice(0, end)) else { return nil }
        return MessageRecord(message: SenderBook.key(host: host.utf8, queueID: m.slice(0, idEnd)), kind: .sender(domain: domain))
    }
}

/// The sender domain of each message seen, for the deferrals that follow. A direct-mapped
/// table of `slots` entries (a power of two) indexed by the message's hash: a newer message
/// that lands on an older one's slot takes it (counted in `forgotten`), so memory is fixed
/// (8 bytes a slot) and the book forgets old messages roughly in the order they came.
/// Domains are kept once. Only deferrals, bounces and expiries look their sender up
/// (deliveries, most of a log, do not), by a byte hash of host and queue id.
public struct SenderBook: Sendable {
    /// Per slot: the message hash's upper 48 bits, and its domain's index + 1 in the low 16
    /// (0: empty). One word a slot, so a lookup touches one cache line.
    private var entries: [UInt64]
    private let mask: Int
    private var domains: [String] = []
    private var domainIndex: [String: Int32] = [:]
    private var lastDomain = ""
    private var lastIndex: Int32 = -1
    /// Messages whose slot a newer one took.
    public private(set) var forgotten = 0
    public private(set) var count = 0
    static let maxDomains = 65_535

    /// `slots`: rounded up to a power of two.
    public init(slots: Int = 1 << 18) {
        var n = 1
        while n < max(2, slots) { n <<= 1 }
        entries = [UInt64](repeating: 0, count: n)
        mask = n - 1
    }

    /// A sender record (others are not the book's).
    public mutating func take(_ r: MessageRecord) {
        guard case .sender(let domain) = r.kind else { return }
        let d: Int32
        if lastIndex >= 0, domain == lastDomain { d = lastIndex } else if let i = domainIndex[domain] {
            d = i
            lastDomain = domain
            lastIndex = i
        } else {
            // Distinct domains are bounded too: past the cap, new ones are not kept.
            guard domains.count < Self.maxDomains else { return }
            d = Int32(domains.count)
            domains.append(domain)
            domainIndex[domain] = d
            lastDomain = domain
            lastIndex = d
        }
        let slot = Self.slot(r.message, mask)
        let tag = UInt64(UInt(bitPattern: r.message)) & ~0xFFFF
        let old = entries[slot]
        if old == 0 { count += 1 } else if old & ~0xFFFF != tag { forgotten += 1 }
        entries[slot] = tag | UInt64(d + 1)
    }

    /// The sender domain of the event's message, if it was seen (nil for deliveries).
    @inline(__always)
    public func domain(of e: DeliveryEvent) -> String? {
        guard e.status != .sent, count > 0 else { return nil }
        return domain(key: Self.key(of: e))
    }

    /// The sender domain of the message with this key (`key(of:)`), if it was seen.
    @inline(__always)
    public func domain(key k: Int) -> String? {
        guard count > 0 else { return nil }
        let entry = entries[Self.slot(k, mask)]
        guard entry != 0, entry & ~0xFFFF == UInt64(UInt(bitPattern: k)) & ~0xFFFF else { return nil }
        return domains[Int(entry & 0xFFFF) - 1]
    }

    /// The slot of a hash: from its low bits (the tag is its high ones).
    @inline(__always)
    static func slot(_ k: Int, _ mask: Int) -> Int { Int(truncatingIfNeeded: UInt(bitPattern: k) ^ UInt(bitPattern: k) >> 29) & mask }

    /// The key of an event's message.
    @inline(__always)
    public static func key(of e: DeliveryEvent) -> Int { key(host: e.host.utf8, queueID: e.queueID.utf8) }

    /// FNV-1a of the host, a separator and the queue id.
    @inlinable
    public static func key<H: Sequence, Q: Sequence>(host: H, queueID: Q) -> Int where H.Element == UInt8, Q.Element == UInt8 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in host { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        h = (h ^ 0xFF) &* 0x100_0000_01b3
        for b in queueID { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return Int(bitPattern: UInt(h))
    }
}
