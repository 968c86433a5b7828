extension DeferralTracker {
    /// One destination deferring now: its counts in the current window.
    public struct DeferringDestination: Sendable, Equatable {
        public var key: DestinationKey
        /// The provider (for a provider key, its name).
        public var provider: String?
        /// Attempts in the whole window.
        public var attempts: Int
        /// Deferrals in the window, all causes.
        public var deferrals: Int
        /// Deferrals per cause, most first.
        public var causes: [(cause: Cause, deferrals: Int, messages: Int)]
        public var firstDeferral: Int64?
        /// The last reply text of its leading cause.
        public var sample: String
        /// The sender domains of its recent deferrals (of every cause), newest first.
        public var senders: [String] = []

        public static func == (a: Self, b: Self) -> Bool {
            a.key == b.key && a.provider == b.provider && a.attempts == b.attempts && a.deferrals == b.deferrals && a.firstDeferral == b.firstDeferral
                && a.sample == b.sample && a.senders == b.senders && a.causes.elementsEqual(b.causes) { $0 == $1 }
        }
    }

    /// The destinations with deferrals in the current window, most deferred first (ties by
    /// key), at most `limit`. Walks every tracked key: for status snapshots, not per line.
    public func deferringDestinations(limit: Int) -> [DeferringDestination] {
        guard now != Int64.min, limit > 0 else { return [] }
        let bucket = now / config.bucket
        var out: [DeferringDestination] = []
        windows.forEach { key, w in
            guard w.hasCauses else { return }
            let s = w.summary(now: bucket)
            guard !s.causes.isEmpty else { return }
            let causes = s.causes.map { (cause: $0.cause, deferrals: $0.totals.deferrals, messages: $0.totals.messages) }
                .sorted { $0.deferrals != $1.deferrals ? $0.deferrals > $1.deferrals : $0.cause < $1.cause }
            let first = s.causes.compactMap(\.totals.firstDeferral).min()
            let lead = s.causes.first { $0.cause == causes[0].cause }?.sample ?? ""
            var senders: [String] = []
            for c in s.causes { for d in c.senders.reversed() where !senders.contains(d) { senders.append(d) } }
            out.append(DeferringDestination(key: key, provider: key.scope == .provider ? key.name : w.provider, attempts: s.attempts, deferrals: causes.reduce(0) { $0 + $1.deferrals },
                                          causes: causes, firstDeferral: first, sample: lead, senders: senders))
        }
        out.sort { a, b in
            if a.deferrals != b.deferrals { return a.deferrals > b.deferrals }
            if a.key.scope != b.key.scope { return a.key.scope > b.key.scope }
            if a.key.name != b.key.name { return a.key.name < b.key.name }
            return (a.key.host ?? "") < (b.key.host ?? "")
        }
        return Array(out.prefix(limit))
    }

    /// The sending hosts seen (several: alerts and destinations are per host too).
    public var sendingHosts: [String] { windows.hosts }
}

extension DeferralTracker {
    /// The open alerts as they stand now (with their summary and hint), oldest first.
    public var openAlertStates: [AlertTransition] {
        openAlerts.map { book.transition($0, .open, at: now == Int64.min ? $0.lastSeen : now) }
    }
}
