/// Opening an alert looks only at the open alerts it may take over, through an index of
/// what each open alert is part of; and a storm past `maxOpenAlerts` becomes one wider
/// alert per cause. So the cost of a line does not grow with the number of open alerts.
extension DeferralTracker {
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

    /// A storm wider than the tracked keys: windows are dropped before they fill, so no
    /// destination crosses its thresholds. While windows are being dropped, `maxOpenAlerts`
    /// distinct destinations deferring for one cause within the window, that cause being its
    /// usual share of all the host's attempts, are the storm's wider alert. Without key pressure this never runs, so it changes nothing else.
    mutating func stormUnderPressure(_ e: DeliveryEvent, key: DestinationKey?, cause: Cause, at t: Int64) -> [AlertTransition]? {
        if windows.evictions != lastEvictions {
            lastEvictions = windows.evictions
            lastEvictionAt = t
        }
        guard let key, lastEvictionAt != Int64.min, t &- lastEvictionAt <= config.window,
              config.thresholds(cause).enabled else { return nil }
        let limit = max(1, config.maxOpenAlerts)
        // In place (no copy of the set per line); bounded: past twice the limit, the
        // entries older than the window go, and if that is not enough, all of them.
        stormSeen[cause, default: [:]][key.aggregate.hashValue] = t
        if stormSeen[cause]!.count >= 2 * limit {
            stormSeen[cause] = stormSeen[cause]!.filter { t &- $0.value <= config.window }
            if stormSeen[cause]!.count >= 2 * limit { stormSeen[cause] = [:] }
        }
        // As for any alert: the cause is a share of all attempts (a sender to 30,000
        // domains sees a thousand full mailboxes in a quarter of an hour; that is no storm).
        guard stormSeen[cause]!.count >= limit,
              everything.totals(cause: cause, now: now / config.bucket).share >= config.thresholds(cause).minShare else { return nil }
        let seen = stormSeen[cause]!.filter { t &- $0.value <= config.window }
        guard seen.count >= limit else {
            stormSeen[cause] = seen
            return nil
        }
        stormSeen.removeValue(forKey: cause)
        let n = seen.count
        var out = openAlert(Self.allKey, e, cause: cause, at: t, totals: SlidingWindow.Totals(attempts: n, deferrals: n, messages: n))
        if let id = wide[cause], var a = open[id] {
            a.destinations = n
            open[id] = a
            folded[cause] = Set(seen.keys)
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
