#if canImport(Glibc)
import Glibc
#endif

/// The record types the identity checks ask for.
public enum DNSType: Int, Sendable, CaseIterable {
    case a = 1
    case ns = 2
    case cname = 5
    case ptr = 12
    case mx = 15
    case txt = 16
    case aaaa = 28

    public var name: String {
        switch self {
        case .a: "A"
        case .ns: "NS"
        case .cname: "CNAME"
        case .ptr: "PTR"
        case .mx: "MX"
        case .txt: "TXT"
        case .aaaa: "AAAA"
        }
    }
}

/// One record of an answer: A/AAAA as an address, PTR/CNAME/NS as a name (no final dot),
/// MX as "preference name", TXT as its strings joined.
public struct DNSRecord: Sendable, Equatable {
    public var type: DNSType
    public var ttl: UInt32
    public var value: String

    public init(_ type: DNSType, _ value: String, ttl: UInt32 = 300) {
        self.type = type
        self.value = value
        self.ttl = ttl
    }
}

/// What a query got. Only `records`, `noData` and `nxdomain` are answers: a check that
/// gets `failed` says `unknown`, never `problem`.
public enum DNSAnswer: Sendable, Equatable {
    /// The records of the type asked (a CNAME chain's own records left out).
    case records([DNSRecord])
    /// The name exists, with no record of the type.
    case noData
    /// The name does not exist.
    case nxdomain
    /// No answer to go by: a timeout, SERVFAIL, REFUSED, a reply that did not parse.
    case failed(String)

    public var records: [DNSRecord] {
        if case .records(let r) = self { return r }
        return []
    }

    /// No answer to go by.
    public var isFailure: Bool {
        if case .failed = self { return true }
        return false
    }

    /// How the answer reads in a finding's evidence.
    public func describe(_ name: String, _ type: DNSType) -> [String] {
        switch self {
        case .records(let rs): return rs.map { "\(name) \(type.name) \($0.value) (ttl \($0.ttl))" }
        case .noData: return ["\(name) \(type.name): no record"]
        case .nxdomain: return ["\(name) \(type.name): NXDOMAIN"]
        case .failed(let why): return ["\(name) \(type.name): no answer (\(why))"]
        }
    }
}

/// Asks DNS. The checks are pure functions of what it answers, so tests hand them a
/// recorded resolver and the daemon the system's (libresolv).
public protocol DNSResolver {
    func query(_ name: String, _ type: DNSType) -> DNSAnswer
}

/// A resolver that answers from a table (tests, replays): a name and type not in it is
/// NXDOMAIN unless another type of the name is there (then no data).
public struct RecordedResolver: DNSResolver {
    public var answers: [String: [DNSType: DNSAnswer]] = [:]
    public init() {}

    public mutating func add(_ name: String, _ type: DNSType, _ values: String..., ttl: UInt32 = 300) {
        answers[name.lowercased(), default: [:]][type] = .records(values.map { DNSRecord(type, $0, ttl: ttl) })
    }

    public mutating func set(_ name: String, _ type: DNSType, _ answer: DNSAnswer) {
        answers[name.lowercased(), default: [:]][type] = answer
    }

    public func query(_ name: String, _ type: DNSType) -> DNSAnswer {
        guard let byType = answers[name.lowercased()] else { return .nxdomain }
        return byType[type] ?? .noData
    }
}

/// An IPv4 or IPv6 address, parsed (inet_pton) and printed canonically.
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    public let bytes: [UInt8]
    public var isIPv4: Bool { bytes.count == 4 }

    /// From the 4 or 16 bytes of an address in network order.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    public init?(_ text: String) {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            bytes = withUnsafeBytes(of: &v6) { Array($0) }
            return
        }
        return nil
    }

    public var description: String {
        var buffer = [CChar](repeating: 0, count: 64)
        let family = isIPv4 ? AF_INET : AF_INET6
        return bytes.withUnsafeBytes { raw in
            inet_ntop(family, raw.baseAddress, &buffer, socklen_t(buffer.count)).map { String(cString: $0) } ?? "?"
        }
    }

    /// The name its PTR record is under: `5.113.0.203.in-addr.arpa`, or the nibbles of
    /// `ip6.arpa`.
    public var reverseName: String {
        if isIPv4 { return bytes.reversed().map(String.init).joined(separator: ".") + ".in-addr.arpa" }
        let hex = Array("0123456789abcdef")
        var labels: [String] = []
        for b in bytes.reversed() {
            labels.append(String(hex[Int(b & 0xf)]))
            labels.append(String(hex[Int(b >> 4)]))
        }
        return labels.joined(separator: ".") + ".ip6.arpa"
    }

    /// The name a DNS blocklist is asked under (`5.113.0.203.zen.example`).
    public func listed(in zone: String) -> String {
        let r = reverseName
        let suffix = isIPv4 ? ".in-addr.arpa" : ".ip6.arpa"
        return String(r.dropLast(suffix.count)) + "." + zone
    }
}
