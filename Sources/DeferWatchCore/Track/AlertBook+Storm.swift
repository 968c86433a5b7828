/// Opening an alert looks only at the open alerts it may take over, through an index of
/// what each open alert is part of; and a storm past `maxOpenAlerts` becomes one wider
/// alert per cause. So the cost of a line does not grow with the number of open alerts.
extension AlertBook {
    /// What an open alert is part of: a wider alert on one of these takes it over.
    enum Relation: Hashable {
        case provider(String, Cause)
        case relay(String, Cause)
        case name(Scope, String, Cause)
        case cause(Cause)
    }

    /// The key of a storm's wider alert.
    static let allKey = DestinationKey(.all, "*")

    /// Destinations folded into one wider alert are counted exactly up to this many.
    static let foldedCap = 1_000_000

    static func relations(of a: Alert) -> [Relation] {
        var r: [Relation] = [.cause(a.cause), .name(a.key.scope, a.key.name, a.cause)]
        if let p = a.provider { r.append(.provider(p, a.cause)) }
        if let relay = a.relay { r.append(.relay(relay, a.cause)) }
        if a.key.scope == .relay && a.relay != a.key.name { r.append(.relay(a.key.name, a.cause)) }
        return r
    }

    mutating func register(_ a: Alert) {
        due.push(dueTime(a), a.id)
        for r in Self.relations(of: a) { related[r, default: []].insert(a.id) }
        if a.key.scope == .all { wide[a.cause] = a.id }
    }

    mutating func unregister(_ a: Alert) {
        for r in Self.relations(of: a) {
            related[r]?.remove(a.id)
            if related[r]?.isEmpty == true { related.removeValue(forKey: r) }
        }
        if a.key.scope == .all && wide[a.cause] == a.id {
            wide.removeValue(forKey: a.cause)
            folded.removeValue(forKey: a.cause)
        }
    }

    /// The open alerts of `cause` a new alert on `key` may take over (`isNarrower` decides),
    /// oldest first.
    func candidates(for key: DestinationKey, cause: Cause) -> [Int] {
        let r: Relation
        switch key.scope {
        case .provider: r = .provider(key.name, cause)
        case .relay: r = .relay(key.name, cause)
        case .domain: r = .name(.domain, key.name, cause)
        case .all: r = .cause(cause)
        }
        return (related[r] ?? []).sorted()
    }

    /// A storm seen under key pressure (DeferralTracker.stormUnderPressure): its wider
    /// alert, with the `seen` destinations (hashes) folded into it.
    mutating func openStorm(_ e: DeliveryEvent, cause: Cause, at t: Int64, seen: Set<Int>) -> [AlertTransition] {
        let n = seen.count
        var out = raise(Self.allKey, e, cause: cause, at: t, totals: SlidingWindow.Totals(attempts: n, deferrals: n, messages: n),
                        window: nil)
        if let id = wide[cause], var a = open[id] {
            a.destinations = n
            updateOpen(id) { $0 = a }
            folded[cause] = seen
            alertsFolded &+= n
            out[0].alert = a
        }
        return out
    }

    /// A destination deferring for the cause of a storm: counted in its wider alert.
    mutating func fold(_ key: DestinationKey, into id: Int, at t: Int64) {
        guard let cause = open[id]?.cause else { return }
        // In place: a copy of the set per deferral would cost as much as the storm is wide.
        let new = (folded[cause]?.count ?? 0) < Self.foldedCap && folded[cause, default: []].insert(key.aggregate.hashValue).inserted
        if new { alertsFolded &+= 1 }
        updateOpen(id) { a in
            if new { a.destinations = (a.destinations ?? 0) &+ 1 }
            a.deferrals &+= 1
            a.attempts &+= 1
            a.lastSeen = max(a.lastSeen, t)
        }
    }
}
