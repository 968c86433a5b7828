/// Attempts by MTA and status, and deferrals by provider and cause, since the daemon started:
/// the counters behind `/metrics`. Label values are bounded: the MTAs, the statuses, the
/// causes, and the providers the rules know (plus "none", and "local" for the deferrals the
/// sending MTA decided by itself: no receiver is involved in those).
public struct DeliveryCounters: Sendable, Equatable, Codable {
    private var attempts = [Int](repeating: 0, count: MTA.allCases.count * DeliveryStatus.allCases.count)
    private var deferrals: [String: [Int]] = [:]

    public init() {}

    /// Whether a loaded copy has the shape and ranges this build writes (a state file).
    public var isSane: Bool {
        attempts.count == MTA.allCases.count * DeliveryStatus.allCases.count
            && attempts.allSatisfy { (0...(Int(1) << 52)).contains($0) }
            && deferrals.count <= 1024
            && deferrals.allSatisfy { $0.key.utf8.count <= 256 && $0.value.count == Cause.allCases.count
                && $0.value.allSatisfy { (0...(Int(1) << 52)).contains($0) } }
    }

    /// Counts one classified event.
    public mutating func count(_ e: DeliveryEvent) {
        let m = MTA.allCases.firstIndex(of: e.mta)!
        let s = DeliveryStatus.allCases.firstIndex(of: e.status)!
        attempts[m * DeliveryStatus.allCases.count + s] &+= 1
        if e.status == .deferred {
            let c = e.cause ?? .other
            let cause = c.index
            deferrals[c.isLocal ? "local" : e.provider ?? "none", default: [Int](repeating: 0, count: Cause.allCases.count)][cause] &+= 1
        }
    }

    public var attemptCounts: [StatusReport.AttemptCount] {
        var out: [StatusReport.AttemptCount] = []
        for (m, mta) in MTA.allCases.enumerated() {
            for (s, status) in DeliveryStatus.allCases.enumerated() {
                out.append(.init(mta: mta.rawValue, status: status.rawValue, count: attempts[m * DeliveryStatus.allCases.count + s]))
            }
        }
        return out
    }

    public var deferralCounts: [StatusReport.DeferralCount] {
        var out: [StatusReport.DeferralCount] = []
        for provider in deferrals.keys.sorted() {
            for (i, n) in deferrals[provider]!.enumerated() where n > 0 {
                out.append(.init(provider: provider, cause: Cause.allCases[i].rawValue, count: n))
            }
        }
        return out
    }
}
