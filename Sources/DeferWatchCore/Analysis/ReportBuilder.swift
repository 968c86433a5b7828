/// Folds classified delivery events into an `AnalysisReport`. Memory is bounded: at most
/// `maxDestinations` recipient domains are tabled (domains that never deferred are dropped
/// first, then the least recently seen), at most `maxUnexplained` unexplained text shapes,
/// and message ids are counted through a bounded set of hashes.
public struct ReportBuilder {
    public let maxDestinations: Int
    public let maxUnexplained: Int
    private var report = AnalysisReport()
    private var domains: [HashedName: Entry] = [:]
    private var providers: [HashedName: DestinationSummary] = [:]
    private var unexplained: [String: UnexplainedText] = [:]
    private var senders: [String: DestinationSummary] = [:]
    /// Sender domains counted at most (a log of a million senders stays bounded).
    static let senderCap = 10_000
    /// Message ids already counted (hashes of host and queue id), bounded.
    private var messageIDs = BoundedMap<HashKey, Bool>(capacity: 1_000_000)
    private var sequence = 0

    struct Entry {
        var summary: DestinationSummary
        var lastSeen: Int
    }

    public init(maxDestinations: Int = 100_000, maxUnexplained: Int = 10_000) {
        self.maxDestinations = maxDestinations
        self.maxUnexplained = maxUnexplained
    }

    /// `hashes`: taken ahead on another thread (DestinationHashes), or nil: taken here.
    public mutating func add(_ e: DeliveryEvent, hashes: DestinationHashes? = nil) {
        sequence += 1
        report.attempts.add(e.status)
        if let t = e.time {
            if report.firstTime == nil || t < report.firstTime! { report.firstTime = t }
            if report.lastTime == nil || t > report.lastTime! { report.lastTime = t }
        }
        if messageIDs.insertIfAbsent(HashKey(hashes?.message ?? e.messageHash), true) { report.messages += 1 }

        let deferred = e.status == .deferred
        if deferred, let c = e.cause {
            report.causes[c] += 1
            if e.inherited { report.inheritedDeferrals += 1 }
            if c == .other && e.rule == nil && !e.inherited { noteUnexplained(e.reason) }
            if c.isLocal {
                // The sending host's own trouble: counted per host, never against a destination.
                report.localDeferrals[e.host, default: CauseCounts()][c] += 1
                return
            }
        }
        if let name = e.provider {
            let p = HashedName(name, hash: hashes?.provider)
            if let i = providers.index(forKey: p) {
                Self.record(e, into: &providers.values[i])
            } else {
                var s = DestinationSummary(domain: name, provider: name)
                Self.record(e, into: &s)
                providers[p] = s
            }
        }
        guard let name = e.domain else { return }
        let d = HashedName(name, hash: hashes?.domain)
        if domains.count >= maxDestinations, domains[d] == nil { evictDomains() }
        if let i = domains.index(forKey: d) {
            Self.record(e, into: &domains.values[i].summary)
            domains.values[i].lastSeen = sequence
        } else {
            var entry = Entry(summary: DestinationSummary(domain: name, provider: e.provider), lastSeen: sequence)
            Self.record(e, into: &entry.summary)
            domains[d] = entry
        }
    }

    private static func record(_ e: DeliveryEvent, into s: inout DestinationSummary) {
        s.attempts.add(e.status)
        if s.provider == nil { s.provider = e.provider }
        guard e.status == .deferred, let c = e.cause else { return }
        s.causes[c] += 1
        if let t = e.time {
            if s.firstDeferral == nil || t < s.firstDeferral! { s.firstDeferral = t }
            if s.lastDeferral == nil || t > s.lastDeferral! { s.lastDeferral = t }
        }
        if s.sample == nil && !e.inherited && !e.text.isEmpty {
            s.sample = e.text
            s.sampleRelay = e.relay
        }
    }

    /// A name with its hash taken once (on a parsing thread, when the event brings it).
    struct HashedName: Hashable {
        let name: String
        let hash: Int
        init(_ name: String, hash: Int?) {
            self.name = name
            self.hash = hash ?? DestinationKey.hash(name)
        }
        func hash(into h: inout Hasher) { h.combine(hash) }
        /// `hash` is the seeded hasher's already (DestinationKey.hash): taken as it is.
        func _rawHashValue(seed: Int) -> Int { hash ^ seed }
        static func == (a: HashedName, b: HashedName) -> Bool { a.hash == b.hash && a.name == b.name }
    }

    private mutating func evictDomains() {
        let target = maxDestinations * 9 / 10
        // The keys only (a filtered copy of the table would copy every entry kept).
        var victims = domains.compactMap { $0.value.summary.attempts.deferred == 0 ? $0.key : nil }
        if domains.count - victims.count > target {
            let rest = domains.lazy.filter { $0.value.summary.attempts.deferred > 0 }
                .map { (key: $0.key, lastSeen: $0.value.lastSeen) }
                .sorted { $0.lastSeen < $1.lastSeen }
                .prefix(domains.count - victims.count - target)
            victims.append(contentsOf: rest.map(\.key))
        }
        for v in victims { domains.removeValue(forKey: v) }
        report.evictedDestinations += victims.count
    }

    private mutating func noteUnexplained(_ text: Substring) {
        report.unexplainedTotal += 1
        let shape = Self.shape(of: text)
        if var u = unexplained[shape] {
            u.count += 1
            unexplained[shape] = u
        } else if unexplained.count < maxUnexplained {
            unexplained[shape] = UnexplainedText(shape: shape, count: 1, example: String(text))
        }
    }

    /// What varies between two instances of the same reply, masked (`ReplyTemplate`).
    static func shape(of text: Substring) -> String { ReplyTemplate.mask(text) }

    /// A deferral, bounce or expiry of a message whose sender domain is known: counted for
    /// that domain (deliveries are not looked up: the table has no shares).
    public mutating func addSender(_ domain: String, _ e: DeliveryEvent) {
        if senders[domain] == nil {
            guard senders.count < Self.senderCap else {
                report.sendersOverflow += 1
                return
            }
            senders[domain] = DestinationSummary(domain: domain, provider: nil)
        }
        let i = senders.index(forKey: domain)!
        senders.values[i].attempts.add(e.status)
        if e.status == .deferred, let c = e.cause, !c.isLocal { senders.values[i].causes[c] += 1 }
    }

    /// The report, destinations worst first (most deferrals, then highest share).
    public func finish(counters: LineCounters, unrecognisedSamples: [String] = []) -> AnalysisReport {
        var r = report
        r.counters = counters
        r.unrecognisedSamples = unrecognisedSamples
        let order: (DestinationSummary, DestinationSummary) -> Bool = {
            if $0.attempts.deferred != $1.attempts.deferred { return $0.attempts.deferred > $1.attempts.deferred }
            if $0.deferredShare != $1.deferredShare { return $0.deferredShare > $1.deferredShare }
            return $0.domain < $1.domain
        }
        r.destinations = domains.values.map(\.summary).filter { $0.attempts.deferred > 0 }.sorted(by: order)
        r.providers = providers.values.sorted(by: order)
        r.senders = senders.values.sorted(by: order)
        r.unexplained = unexplained.values.sorted { $0.count != $1.count ? $0.count > $1.count : $0.shape < $1.shape }
        return r
    }
}
