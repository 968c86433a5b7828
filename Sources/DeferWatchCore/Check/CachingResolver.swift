/// A resolver that remembers answers for as long as their TTL says (the daemon checks the
/// same identity for every alert that opens): records by their smallest TTL, NXDOMAIN and
/// no-data answers for `negativeTTL`, failures for `failureTTL` (so a resolver that does not
/// answer is not asked again by every check of the next seconds). TTLs are held between
/// `minTTL` and `maxTTL`; at most `capacity` answers are kept (the oldest go first). Not
/// thread-safe: one per checking thread.
public final class CachingResolver: DNSResolver {
    private let upstream: any DNSResolver
    /// Seconds on a monotonic clock.
    private let now: () -> Double
    public var minTTL: Double = 30
    public var maxTTL: Double = 86_400
    public var negativeTTL: Double = 300
    public var failureTTL: Double = 30
    public var capacity = 4096
    private var entries: [Key: (answer: DNSAnswer, until: Double)] = [:]
    private var order: [Key] = []
    public private(set) var hits = 0
    public private(set) var misses = 0

    private struct Key: Hashable {
        var name: String
        var type: DNSType
    }

    public init(_ upstream: any DNSResolver, now: @escaping () -> Double) {
        self.upstream = upstream
        self.now = now
    }

    public func query(_ name: String, _ type: DNSType) -> DNSAnswer {
        let key = Key(name: name.lowercased(), type: type)
        let t = now()
        if let e = entries[key], e.until > t {
            hits += 1
            return e.answer
        }
        misses += 1
        let answer = upstream.query(name, type)
        let ttl: Double
        switch answer {
        case .records(let rs): ttl = min(maxTTL, max(minTTL, Double(rs.map(\.ttl).min() ?? 0)))
        case .noData, .nxdomain: ttl = negativeTTL
        case .failed: ttl = failureTTL
        }
        if entries[key] == nil {
            order.append(key)
            if order.count > capacity {
                let drop = order.count - capacity
                for k in order.prefix(drop) { entries[k] = nil }
                order.removeFirst(drop)
            }
        }
        entries[key] = (answer, t + ttl)
        return answer
    }

    /// Answers held now.
    public var count: Int { entries.count }
}

/// A resolver that stops asking once a deadline has passed: every query after it fails at
/// once, so one check of an alert takes at most its timeout however many lookups it needs
/// (SPF includes, a resolver that never answers).
public final class DeadlineResolver: DNSResolver {
    private let upstream: any DNSResolver
    private let now: () -> Double
    private let deadline: Double

    public init(_ upstream: any DNSResolver, now: @escaping () -> Double, timeout: Double) {
        self.upstream = upstream
        self.now = now
        deadline = now() + timeout
    }

    public func query(_ name: String, _ type: DNSType) -> DNSAnswer {
        guard now() < deadline else { return .failed("the check's time ran out") }
        return upstream.query(name, type)
    }
}
