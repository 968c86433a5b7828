/// What a deferral is tracked under: a provider, a recipient domain or a relay host,
/// optionally narrowed to one sending host.
public enum Scope: String, Sendable, Codable, CaseIterable, Comparable {
    case domain
    case relay
    case provider
    /// Every destination of a cause: the one alert a storm past `max_open_alerts` becomes.
    case all

    public static func < (a: Scope, b: Scope) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

public struct DestinationKey: Hashable, Sendable, Codable, CustomStringConvertible {
    public let scope: Scope
    public let name: String
    /// The sending host, or nil for all hosts together.
    public let host: String?

    /// The strings' hashes, taken once: the tracker looks a key up in several tables per
    /// delivery attempt, and hashing two strings each time was most of its work.
    let nameHash: Int
    private let hostHash: Int
    private let mixed: Int

    public init(_ scope: Scope, _ name: String, host: String? = nil) {
        self.init(scope, name, nameHash: Self.hash(name), host: host, hostHash: host.map(Self.hash) ?? 0)
    }

    init(_ scope: Scope, _ name: String, nameHash: Int, host: String? = nil, hostHash: Int = 0) {
        self.scope = scope
        self.name = name
        self.host = host
        self.nameHash = nameHash
        self.hostHash = hostHash
        // The tables hash this again with their own seeded hasher; mixing keeps the three
        // parts apart. Equal keys always mix equal; `==` decides on the strings.
        let s: Int
        switch scope {
        case .domain: s = 0x1F35_A7BD
        case .relay: s = 0x5B0C_9E31
        case .provider: s = 0x72D8_1A6F
        case .all: s = 0x3C6E_F372
        }
        mixed = nameHash ^ (s &* 0x1E37_79B9_7F4A_7C15) ^ (host == nil ? 0 : (hostHash &* 0x2545_F491_4F6C_DD1D) | 1)
    }

    /// A string's hash with the process's seeded hasher (names come from the log).
    static func hash(_ s: String) -> Int {
        var h = Hasher()
        h.combine(s)
        return h.finalize()
    }

    public func hash(into h: inout Hasher) { h.combine(mixed) }

    /// What the tables bucket the key by: `mixed` is already a hash of the process's seeded
    /// hasher (the names come from the log, so that matters), so it is taken as it is rather
    /// than hashed once more on every look-up (the tracker looks keys up several times per
    /// delivery attempt; the second hashing was a tenth of its work on a log of many domains).
    public func _rawHashValue(seed: Int) -> Int { mixed ^ seed }

    public static func == (a: DestinationKey, b: DestinationKey) -> Bool {
        a.mixed == b.mixed && a.scope == b.scope && a.name == b.name && a.host == b.host
    }

    public var description: String {
        "\(scope.rawValue)=\(name)" + (host.map { " host=\($0)" } ?? "")
    }

    public func withHost(_ h: String?) -> DestinationKey {
        DestinationKey(scope, name, nameHash: nameHash, host: h, hostHash: h.map(Self.hash) ?? 0)
    }

    /// `withHost` with the host's hash already known (`DestinationKey.hash(host)`).
    func withHost(_ h: String, hash: Int) -> DestinationKey {
        DestinationKey(scope, name, nameHash: nameHash, host: h, hostHash: hash)
    }

    /// The key for all hosts together.
    var aggregate: DestinationKey {
        host == nil ? self : DestinationKey(scope, name, nameHash: nameHash, host: nil, hostHash: 0)
    }

    private enum CodingKeys: String, CodingKey { case scope, name, host }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(try c.decode(Scope.self, forKey: .scope), try c.decode(String.self, forKey: .name),
                  host: try c.decodeIfPresent(String.self, forKey: .host))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(scope, forKey: .scope)
        try c.encode(name, forKey: .name)
        try c.encodeIfPresent(host, forKey: .host)
    }
}
